// OPTIONS /api/hooks/{template}: the CloudEvents 1.0 webhook abuse protection handshake. Event Grid (CloudEvents
// schema) asks with WebHook-Request-Origin before it delivers; the hook allows that origin only when the caller is
// authenticated, the template takes Event Grid input and lists the origin (default eventgrid.azure.net).
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { HookStores } from '../hooks/hook-stores';
import type { MailConfig } from '../config/load-config';
import { isTemplateName } from '../hooks/template-name';
import { problem } from '../http/problem';
import { unsignedHookCaller, type HookCallerDeps } from './hook-caller';

export interface HookOptionsDeps extends HookCallerDeps {
  config: Pick<MailConfig, 'callers'> & { hooks: Pick<MailConfig['hooks'], 'signed'> };
  hookStores(): Promise<Pick<HookStores, 'templates'>>;
}

export function createHookOptionsHandler(deps: () => HookOptionsDeps) {
  return async function hookOptions(request: HttpRequest): Promise<HttpResponseInit> {
    const app = deps();
    const name = request.params.template;
    if (!isTemplateName(name)) return problem(404, 'No such template', 'No template of this name.');
    if (app.config.hooks.signed.some((h) => h.template === name)) {
      return problem(400, 'Not an Event Grid hook', `Hook ${name} is signed; Event Grid cannot sign, so it takes no subscriptions.`);
    }
    const who = await unsignedHookCaller(app, request);
    if (!who.ok) return who.response;
    const found = await (await app.hookStores()).templates.get(name);
    if (!found.ok) {
      if (found.status === 404) return problem(404, 'No such template', 'No template of this name.');
      return problem(503, 'Template unavailable', 'The template could not be read; try again.');
    }
    const { spec } = found.template;
    if (spec.input !== 'eventgrid')
      return problem(400, 'Not an Event Grid hook', `Template ${name} takes no Event Grid subscriptions (its input is json).`);
    const origin = request.headers.get('webhook-request-origin')?.trim();
    if (!origin)
      return problem(
        400,
        'Missing WebHook-Request-Origin',
        'The CloudEvents abuse protection request names its origin in WebHook-Request-Origin.',
      );
    const allowed = spec.allowedOrigins.find((o) => o.toLowerCase() === origin.toLowerCase());
    if (!allowed)
      return problem(403, 'Origin not allowed', `Template ${name} accepts deliveries from ${spec.allowedOrigins.join(', ')} only.`);
    return { status: 200, headers: { 'WebHook-Allowed-Origin': allowed, 'WebHook-Allowed-Rate': '*', Allow: 'POST, OPTIONS' } };
  };
}
