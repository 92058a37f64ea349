import type { HttpHandler } from '@azure/functions';

/** Serves the API description; built on first use, since it depends only on the schemas and the function table. */
export function createOpenApiHandler(build: () => Record<string, unknown>): HttpHandler {
  let document: Record<string, unknown> | undefined;
  return () => ({ jsonBody: (document ??= build()) });
}
