// GET /api/openapi.json and /api/swagger.json: the API description, built at the first request, since it depends
// only on the schemas and the API's operations (and, for OpenAPI 2.0, the app's public host).
import type { HttpHandler } from '@azure/functions';
import { openApiDocument, swaggerDocument } from '../api/openapi';
import type { MailConfig } from '../config/load-config';

export function createOpenApiHandler(): HttpHandler {
  return serving(() => openApiDocument());
}

export function createSwaggerHandler(deps: () => { config: Pick<MailConfig, 'publicBaseUrl'> }): HttpHandler {
  return serving(() => swaggerDocument({ baseUrl: publicBaseUrlOf(deps) }));
}

function serving(build: () => Record<string, unknown>): HttpHandler {
  let document: Record<string, unknown> | undefined;
  return () => ({ jsonBody: (document ??= build()) });
}

/** Where the app is reached, for the served OpenAPI 2.0 host; unknown (no host) when the settings do not load. */
function publicBaseUrlOf(deps: () => { config: Pick<MailConfig, 'publicBaseUrl'> }): string | undefined {
  try {
    return deps().config.publicBaseUrl;
  } catch {
    return undefined;
  }
}
