// Who calls a hook that is not signed: a caller as for POST /api/mail. When the app verifies signed hooks itself
// but has no caller policy, the host lets every hook request through unchecked, so an unsigned hook has no way to
// know its caller and is refused.
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { AuthenticatedCaller } from '../callers/authenticate';
import type { MailConfig } from '../config/load-config';
import { callerOf, type Authenticate } from './caller';
import { problem } from '../http/problem';

export interface HookCallerDeps {
  /** Whether there is a caller policy, and whether any hook is signed. */
  config: Pick<MailConfig, 'callers'> & { hooks: { signed: readonly unknown[] } };
  authenticate: Authenticate;
}

export async function unsignedHookCaller(
  { config, authenticate }: HookCallerDeps,
  request: HttpRequest,
): Promise<{ ok: true; value: AuthenticatedCaller } | { ok: false; response: HttpResponseInit }> {
  if (!config.callers && config.hooks.signed.length > 0) {
    return {
      ok: false,
      response: problem(
        401,
        'Not authenticated',
        'This hook is not signed, and the app has no caller policy to check a key or token against: set MAIL_CALLERS, or sign the hook (MAIL_HOOKS).',
      ),
    };
  }
  return callerOf(authenticate, request, 'hook');
}
