// POST /api/hooks/{template}: a webhook's own JSON (an Azure Monitor alert, Event Grid events, a GitHub or any other
// payload) rendered into mails by a named template and handed to the same intake as POST /api/mail, so validation,
// sender policy, idempotency, quota and status apply unchanged. Answers 202 with each mail's status URL.
// The adapter between the Functions host and the hook path (src/hooks/receive-hook.ts).
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { acceptMailRequest, type IntakeDeps } from '../intake/accept-mail';
import type { HookStores } from '../hooks/hook-stores';
import { receiveHook } from '../hooks/receive-hook';
import type { MailConfig } from '../config/load-config';
import { readBodyWithin } from './read-body';
import { statusUrl } from './status-url';
import { unsignedHookCaller, type HookCallerDeps } from './hook-caller';
import { privateLogger } from '../logger';

export interface PostHookDeps extends IntakeDeps, HookCallerDeps {
  config: IntakeDeps['config'] & HookCallerDeps['config'] & Pick<MailConfig, 'hooks' | 'logAddresses' | 'publicBaseUrl'>;
  hookStores(): Promise<HookStores>;
}

export function createPostHookHandler(deps: () => PostHookDeps) {
  return async function postHook(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const app = deps();
    const { config, outbox, status, quota } = app;
    const { templates, deliveries } = await app.hookStores();
    return receiveHook(
      {
        template: request.params.template,
        header: (name) => request.headers.get(name),
        query: request.query.entries(),
        readBody: (limit) => readBodyWithin(request, limit),
        caller: () => unsignedHookCaller(app, request),
        statusUrl: (id) => statusUrl(config.publicBaseUrl, request, id),
      },
      {
        hooks: config.hooks,
        templates,
        deliveries,
        status,
        accept: (input) => acceptMailRequest(input, { config, outbox, status, quota }),
        log: privateLogger(context, config.logAddresses),
      },
    );
  };
}
