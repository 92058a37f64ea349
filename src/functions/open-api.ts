// GET /api/openapi.json: this API's description (OpenAPI 3.1).
import { app } from '@azure/functions';
import { ROUTES } from '../api/routes';
import { httpOptions, lazyHttp, type HttpFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const openApi: HttpFunctionDefinition = {
  name: 'openApi',
  trigger: 'http',
  method: 'GET',
  route: ROUTES.openApi,
  authLevel: 'anonymous',
  handler: lazyHttp(() => import('../handlers/open-api.js').then((m) => m.createOpenApiHandler)),
};

app.http(openApi.name, httpOptions(openApi, processServices));
