// POST /api/mail: validate, record and queue a mail; 202 with a Location to poll for its outcome.
import { app } from '@azure/functions';
import { ROUTES } from '../api/routes';
import { httpOptions, lazyHttp, type HttpFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const sendMail: HttpFunctionDefinition = {
  name: 'sendMail',
  trigger: 'http',
  method: 'POST',
  route: ROUTES.mail,
  authLevel: 'function',
  handler: lazyHttp(() => import('../handlers/send-mail.js').then((m) => m.createSendMailHandler)),
};

app.http(sendMail.name, httpOptions(sendMail, processServices));
