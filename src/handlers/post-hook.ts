// POST /api/hooks/{template}: a webhook's own JSON (an Azure Monitor alert, Event Grid events, a GitHub or any other
// payload) rendered into mails by a named template and handed to the same intake as POST /api/mail, so validation,
// sender policy, idempotency, quota and status apply unchanged. Answers 202 with each mail's status URL.
// The adapter between the Functions host and the hook path (src/hooks/receive-hook.ts).
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { acceptMailRequest } from '../intake/accept-mail';
import { deliveryRecordsOf, templateStoreOf } from '../hooks/hook-runtime';
import { receiveHook } from '../hooks/receive-hook';
import type { Runtime } from '../runtime';
import { readBodyWithin } from './read-body';
import { statusUrl } from './status-url';
import { unsignedHookCaller } from './hook-caller';
import { privateLogger } from '../logger';

export function createPostHookHandler(runtime: () => Runtime) {
  return async function postHook(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const rt = runtime();
    const { config, outbox, status, quota } = rt;
    return receiveHook(
      {
        template: request.params.template,
        header: (name) => request.headers.get(name),
        query: request.query.entries(),
        readBody: (limit) => readBodyWithin(request, limit),
        caller: () => unsignedHookCaller(rt, request),
        statusUrl: (id) => statusUrl(config.publicBaseUrl, request, id),
      },
      {
        hooks: config.hooks,
        templates: templateStoreOf(rt),
        deliveries: deliveryRecordsOf(rt),
        status,
        accept: (input) => acceptMailRequest(input, { config, outbox, status, quota }),
        log: privateLogger(context, config.logAddresses),
      },
    );
  };
}
