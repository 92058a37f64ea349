import type { HttpResponseInit } from '@azure/functions';
import { openApiDocument } from '../api/openapi';

// Built once: the document depends only on the schemas.
let document: Record<string, unknown> | undefined;

export async function openApi(): Promise<HttpResponseInit> {
  document ??= openApiDocument();
  return { jsonBody: document };
}
