// GET /api/swagger.json: this API's description as custom connectors import it (OpenAPI 2.0).
import { app } from '@azure/functions';
import { ROUTES } from '../api/routes';
import { httpOptions, lazyHttp, type HttpFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const swagger: HttpFunctionDefinition = {
  name: 'swagger',
  trigger: 'http',
  method: 'GET',
  route: ROUTES.swagger,
  authLevel: 'anonymous',
  handler: lazyHttp(() => import('../handlers/open-api.js').then((m) => m.createSwaggerHandler)),
};

app.http(swagger.name, httpOptions(swagger, processServices));
