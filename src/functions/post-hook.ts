// POST /api/hooks/{template}: a webhook's payload rendered into mails by a template and queued as POST /api/mail does.
import { app } from '@azure/functions';
import { ROUTES } from '../api/routes';
import { appVerifiesHookSignatures } from '../config/load-config';
import { httpOptions, lazyHttp, type HttpFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const postHook: HttpFunctionDefinition = {
  name: 'postHook',
  trigger: 'http',
  method: 'POST',
  route: ROUTES.hook,
  authLevel: 'function',
  appAuthenticates: () => appVerifiesHookSignatures(),
  handler: lazyHttp(() => import('../handlers/post-hook.js').then((m) => m.createPostHookHandler)),
};

app.http(postHook.name, httpOptions(postHook, processServices));
