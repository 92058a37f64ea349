// One POST to a callback URL, guarded: https only, the host's addresses resolved here and refused when any is
// private, loopback or link-local (so a public name that resolves, or is rebound, into a private network is not
// reached), a deadline for the whole exchange, no redirects followed, and the response body never read.
// The module object, not its named export: telemetry's HTTP instrumentation replaces `request` on it once started, and
// a named import (in the bundle, an ES import binding) would keep the original, leaving callbacks untraced.
import https from 'node:https';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { hostOf, isPrivateAddress } from '../mail/callback-url';
import type { CallbackFailure } from '../status/status-store';

export interface PostOptions {
  timeoutMs: number;
  /** Development only (MAIL_CALLBACK_PRIVATE_HOSTS): hosts whose private addresses are accepted. */
  privateHosts: readonly string[];
}

/**
 * `category` is what a caller may see (the status record's callback.lastError), never the resolver's or the socket's
 * own words, which name addresses and ports inside the operator's network; `detail` is for the operator's log only.
 */
export type PostResult =
  { ok: true; status: number } | { ok: false; category: CallbackFailure; detail: string; status?: number; final?: boolean };

// A name that does not resolve is reported like one that resolves into a private network: told apart, the two would
// tell a caller which names exist inside the operator's DNS (private zones included).
const NAME_ERRORS = new Set(['ECALLBACKADDRESS', 'ENOTFOUND', 'EAI_AGAIN', 'ENODATA', 'EAI_FAIL', 'EAI_NONAME']);
const TLS_ERROR =
  /^(ERR_TLS_|ERR_SSL_|CERT_|EPROTO$|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_|HOSTNAME_MISMATCH$)/;

/** The category of a connection error; its message stays with the operator. */
export function connectionFailure(error: NodeJS.ErrnoException, timedOut: boolean): CallbackFailure {
  if (timedOut) return 'timeout';
  const code = error.code ?? '';
  if (NAME_ERRORS.has(code)) return 'refused-address';
  if (TLS_ERROR.test(code)) return 'tls';
  return 'connection-failed';
}

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
  if (url.protocol !== 'https:')
    return Promise.resolve({ ok: false, category: 'url-not-allowed', detail: 'not an https URL', final: true });
  const allowPrivate = options.privateHosts.includes(hostOf(url));
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    let timedOut = false;
    const settle = (result: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(result);
    };
    const req = https.request(
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
        else if (status >= 300 && status < 400)
          settle({ ok: false, status, category: `http-${status}`, detail: `HTTP ${status}: redirects are not followed` });
        // 410 Gone: the receiver says this URL is over, so further attempts would only be noise.
        else settle({ ok: false, status, category: `http-${status}`, detail: `HTTP ${status}`, final: status === 410 });
      },
    );
    const deadline = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) =>
      settle({
        ok: false,
        category: connectionFailure(error, timedOut),
        detail: `${error.code ? `${error.code}: ` : ''}${error.message}`,
      }),
    );
    req.end(body);
  });
}
