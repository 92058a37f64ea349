// A callback receiver for the sandbox and the tests: an https server (the local CA's localhost certificate) that
// verifies each callback's Standard Webhooks signature over the raw body, as a real receiver must, keeps what it got,
// and answers 204, or 401 for a signature that does not verify. Tests can make it fail the next attempts. It holds the
// master secret the app is given, and verifies with the secret of each caller it expects (derived as the app does),
// so it also tells whose secret a callback verified with.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { verifyStandardWebhook } from '../src/hooks/signatures';
import { callbackSecretFor, PRODUCER_PRINCIPAL } from '../src/callbacks/callback-secret';
import { FUNCTION_KEY_CALLER } from '../src/callers/sender-policy';
import type { LocalTls } from './certs';
import { refuseForeign } from './loopback-guard';

const MAX_BODY = 1024 * 1024;

export interface ReceivedCallback {
  receivedAt: string;
  path: string;
  contentType: string;
  webhookId: string;
  webhookTimestamp: string;
  webhookSignature: string;
  /** The raw body as it arrived (what the signature covers). */
  body: string;
  /** Whether the webhook-signature verified with the secret of one of the expected callers. */
  verified: boolean;
  /** Whose secret it verified with. */
  verifiedAs?: string;
  /** Why it did not verify. */
  detail?: string;
  /** The parsed body (a CloudEvent), when it was JSON. */
  event?: { id?: string; type?: string; subject?: string; [key: string]: unknown };
  /** What the receiver answered. */
  answered: number;
}

export interface CallbackReceiver {
  /** https://localhost:<port>: callbacks go to any path below it. */
  url: string;
  /** The master secret (MAIL_CALLBACK_SECRET). */
  secret: string;
  /** Callers whose secret a callback may verify with: the function-key caller and queue producers, and any added. */
  principals: Set<string>;
  received: ReceivedCallback[];
  /** Answer the next `count` callbacks with `status` (a receiver that is down or failing). */
  failNext(count: number, status?: number): void;
  /** Waits until a callback matching `test` arrives, or throws after `timeoutMs`. */
  waitFor(test: (callback: ReceivedCallback) => boolean, timeoutMs?: number): Promise<ReceivedCallback>;
  close(): Promise<void>;
}

export interface CallbackReceiverOptions {
  tls: LocalTls;
  port?: number;
  onCallback?: (callback: ReceivedCallback) => void;
}

/** A Standard Webhooks secret: whsec_ and the base64 of 24 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export async function startCallbackReceiver(options: CallbackReceiverOptions): Promise<CallbackReceiver> {
  const secret = newWebhookSecret();
  const principals = new Set([FUNCTION_KEY_CALLER, PRODUCER_PRINCIPAL]);
  const received: ReceivedCallback[] = [];
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  const waiters = new Set<() => void>();

  const server: Server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    if (refuseForeign(req, res, 'https', [port])) return;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const header = (name: string) => req.headers[name]?.toString() ?? null;
      const checks = [...principals].map((p) => ({ p, check: verifyStandardWebhook(header, body, [callbackSecretFor(secret, p)]) }));
      const match = checks.find(({ check }) => check.ok);
      const verifiedAs = match?.p;
      const check = (match ?? checks[0])?.check ?? { ok: false, detail: 'no caller expected' };
      let event: ReceivedCallback['event'];
      try {
        event = check.ok ? (JSON.parse(body.toString('utf8')) as ReceivedCallback['event']) : undefined;
      } catch {
        event = undefined;
      }
      const failing = check.ok && failures.count > 0;
      if (failing) failures = { ...failures, count: failures.count - 1 };
      const answered = !check.ok ? 401 : failing ? failures.status : 204;
      const callback: ReceivedCallback = {
        receivedAt: new Date().toISOString(),
        path: req.url ?? '/',
        contentType: req.headers['content-type'] ?? '',
        webhookId: req.headers['webhook-id']?.toString() ?? '',
        webhookTimestamp: req.headers['webhook-timestamp']?.toString() ?? '',
        webhookSignature: req.headers['webhook-signature']?.toString() ?? '',
        body: body.toString('utf8'),
        verified: check.ok,
        ...(verifiedAs ? { verifiedAs } : {}),
        ...(check.ok ? {} : { detail: check.detail }),
        ...(event ? { event } : {}),
        answered,
      };
      received.push(callback);
      if (received.length > 500) received.shift();
      res.writeHead(answered, { 'Content-Type': 'text/plain' }).end(answered === 204 ? undefined : `answered ${answered}`);
      options.onCallback?.(callback);
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `https://localhost:${port}`,
    secret,
    principals,
    received,
    failNext(count, status = 500) {
      failures = { count, status };
    },
    waitFor(test, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find(test);
          if (!found) return false;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching callback within ${timeoutMs} ms (got ${received.length}: ${received.map((c) => `${c.webhookId} ${c.answered}`).join(', ')})`,
            ),
          );
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
