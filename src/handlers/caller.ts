// The caller of an HTTP request, or the problem response that says why it is not one.
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { AuthenticatedCaller } from '../callers/authenticate';
import type { Runtime } from '../runtime';
import { problem } from './http-problem';

export async function callerOf(
  runtime: Runtime,
  request: HttpRequest,
): Promise<{ ok: true; value: AuthenticatedCaller } | { ok: false; response: HttpResponseInit }> {
  const result = await runtime.authenticate({ header: (name) => request.headers.get(name), query: (name) => request.query.get(name) });
  if (result.ok) return result;
  const titles = { 401: 'Not authenticated', 403: 'Not a caller of this API', 503: 'Could not authenticate' } as const;
  const response = problem(result.status, titles[result.status], result.detail);
  if (result.status === 401) response.headers = { ...(response.headers as Record<string, string>), 'WWW-Authenticate': 'Bearer' };
  return { ok: false, response };
}
