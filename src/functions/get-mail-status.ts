// GET /api/mail/{id}: the outcome of a mail, for the Logic Apps asynchronous pattern.
import { app } from '@azure/functions';
import { ROUTES } from '../api/routes';
import { httpOptions, lazyHttp, type HttpFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const getMailStatus: HttpFunctionDefinition = {
  name: 'getMailStatus',
  trigger: 'http',
  method: 'GET',
  route: ROUTES.mailStatus,
  authLevel: 'function',
  handler: lazyHttp(() => import('../handlers/get-mail-status.js').then((m) => m.createGetMailStatusHandler)),
};

app.http(getMailStatus.name, httpOptions(getMailStatus, processServices));
