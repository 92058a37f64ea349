// The sandbox's servers answer only requests addressed to them by a loopback name. They listen on 127.0.0.1 and ask
// no credential, so without this any web page could use them: through DNS rebinding (a name of the page's that now
// resolves to 127.0.0.1: the browser then sends that name as Host and treats the answers as the page's own) or by
// posting across origins. A request whose Host is not localhost, 127.0.0.1 or [::1] with the server's port, or whose
// Origin (when a browser sends one) is not the server's own, is refused before anything runs.
import type { IncomingMessage, ServerResponse } from 'node:http';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** Why a request is refused (status and a message), or undefined when it is addressed to one of `ports` by loopback name. */
export function foreignRequest(
  req: IncomingMessage,
  scheme: 'http' | 'https',
  ports: readonly number[],
): { status: 403 | 421; message: string } | undefined {
  const own = ports.flatMap((port) => LOOPBACK_NAMES.map((name) => `${name}:${port}`));
  const host = (req.headers.host ?? '').toLowerCase();
  if (!own.includes(host)) {
    return {
      status: 421,
      message: `This local server answers only requests to ${own[0]} (or 127.0.0.1, [::1]); Host "${host.slice(0, 100)}" is refused, as a page using DNS rebinding would send it.`,
    };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !own.some((address) => origin.toLowerCase() === `${scheme}://${address}`)) {
    return {
      status: 403,
      message: `This local server takes no requests from other web pages; Origin "${origin.slice(0, 100)}" is refused.`,
    };
  }
  return undefined;
}

/** Answers a foreign request (see foreignRequest) and returns true; false for a request the server should handle. */
export function refuseForeign(req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https', ports: readonly number[]): boolean {
  const refused = foreignRequest(req, scheme, ports);
  if (!refused) return false;
  res.writeHead(refused.status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end(`${refused.message}\n`);
  // The body, if any, is not wanted.
  req.resume();
  return true;
}
