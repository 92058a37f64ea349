// OPTIONS /api/hooks/{template}: the CloudEvents webhook validation handshake of an Event Grid template.
import { app } from '@azure/functions';
import { ROUTES } from '../api/routes';
import { appVerifiesHookSignatures } from '../config/load-config';
import { httpOptions, lazyHttp, type HttpFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const hookOptions: HttpFunctionDefinition = {
  name: 'hookOptions',
  trigger: 'http',
  method: 'OPTIONS',
  route: ROUTES.hook,
  authLevel: 'function',
  appAuthenticates: () => appVerifiesHookSignatures(),
  handler: lazyHttp(() => import('../handlers/hook-options.js').then((m) => m.createHookOptionsHandler)),
};

app.http(hookOptions.name, httpOptions(hookOptions, processServices));
