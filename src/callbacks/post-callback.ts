// One POST to a callback URL, guarded: https only, the host's addresses resolved here and refused when any is
// private, loopback or link-local (so a public name that resolves, or is rebound, into a private network is not
// reached), a deadline for the whole exchange, no redirects followed, and the response body never read.
import { request } from 'node:https';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { hostOf, isPrivateAddress } from './callback-url';

export interface PostOptions {
  timeoutMs: number;
  /** Development only (MAIL_CALLBACK_PRIVATE_HOSTS): hosts whose private addresses are accepted. */
  privateHosts: readonly string[];
}

export type PostResult = { ok: true; status: number } | { ok: false; error: string; status?: number; final?: boolean };

class RefusedAddressError extends Error {
  readonly code = 'ECALLBACKADDRESS';
}

/** A lookup that resolves every address of the host and refuses the connection if any of them is private. */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const refused = addresses.find((a) => isPrivateAddress(a.address));
      if (refused && !allowPrivate) {
        return callback(new RefusedAddressError(`${hostname} resolves to ${refused.address}, a private, loopback or link-local address`));
      }
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  }) as LookupFunction;
}

export function postCallback(rawUrl: string, body: Buffer, headers: Record<string, string>, options: PostOptions): Promise<PostResult> {
  const url = new URL(rawUrl);
  if (url.protocol !== 'https:') return Promise.resolve({ ok: false, error: 'not an https URL', final: true });
  const allowPrivate = options.privateHosts.includes(hostOf(url));
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const settle = (result: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(result);
    };
    const req = request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(body.length), 'User-Agent': 'exo-smtp-mailer-callbacks/1' },
        lookup: guardedLookup(allowPrivate),
        // A connection of its own: nothing pooled outlives the attempt, and no other request shares its checks.
        agent: false,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        // The answer is the status code; the body is not read at all (nor allowed to pile up).
        res.destroy();
        if (status >= 200 && status < 300) settle({ ok: true, status });
        else if (status >= 300 && status < 400) settle({ ok: false, status, error: `HTTP ${status}: redirects are not followed` });
        // 410 Gone: the receiver says this URL is over, so further attempts would only be noise.
        else settle({ ok: false, status, error: `HTTP ${status}`, final: status === 410 });
      },
    );
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) =>
      settle({ ok: false, error: `${error.code ? `${error.code}: ` : ''}${error.message}` }),
    );
    req.end(body);
  });
}
