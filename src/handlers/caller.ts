// The caller of an HTTP request, allowed to do the operation, or the problem response that says why not.
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { authorize, type AuthenticatedCaller, type Authentication, type CredentialSource } from '../callers/authenticate';
import { OPERATION_ROLES, type Operation } from '../callers/caller-policy';
import { problem } from '../http/problem';

/** Who is calling: from MAIL_CALLERS, or the function-key caller when the host checks function keys. */
export type Authenticate = (request: CredentialSource) => Promise<Authentication>;

export async function callerOf(
  authenticate: Authenticate,
  request: HttpRequest,
  operation: Operation,
): Promise<{ ok: true; value: AuthenticatedCaller } | { ok: false; response: HttpResponseInit }> {
  const authenticated = await authenticate({
    header: (name) => request.headers.get(name),
    query: (name) => request.query.get(name),
  });
  const result = authenticated.ok ? authorize(authenticated.value, OPERATION_ROLES[operation], OPERATION_NAMES[operation]) : authenticated;
  if (result.ok) return result;
  const titles = {
    401: 'Not authenticated',
    403: authenticated.ok ? 'Not allowed for this caller' : 'Not a caller of this API',
    503: 'Could not authenticate',
  } as const;
  const response = problem(result.status, titles[result.status], result.detail);
  if (result.status === 401) response.headers = { ...(response.headers as Record<string, string>), 'WWW-Authenticate': 'Bearer' };
  return { ok: false, response };
}

const OPERATION_NAMES: Record<Operation, string> = {
  send: 'sending mail',
  readStatus: 'reading a status',
  hook: 'a hook (and its Event Grid subscription)',
};
