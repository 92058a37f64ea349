// Where a caller polls a message. Built from the configured public base URL, never from the request's Host
// header, which the caller controls: a forged Host would otherwise send pollers (and their function key) elsewhere.
import type { HttpRequest } from '@azure/functions';
import { ROUTES, routePath } from '../api/routes';

/** Absolute when a public base URL is known, else a path relative to the app. Keeps a `?code=` function key. */
export function statusUrl(publicBaseUrl: string | undefined, request: HttpRequest, id: string): string {
  const code = request.query.get('code');
  const query = code ? `?code=${encodeURIComponent(code)}` : '';
  return `${publicBaseUrl ?? ''}${routePath(ROUTES.mailStatus, { id })}${query}`;
}
