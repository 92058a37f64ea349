// Small pieces shared by the local servers (token endpoints, local Functions host): JSON replies, request
// bodies, listening on loopback, and scripted failures.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

/** Reads a request body, refusing more than `limit` bytes. */
export async function readBodyBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Reads a request body as text (token requests are small; anything over 1 MB is a client bug). */
export async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<string> {
  return (await readBodyBytes(req, limit)).toString('utf8');
}

/** Listens on loopback only; port 0 picks a free port. Resolves with the port. */
export function listenOnLoopback(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting connections and drops the open ones, so tests never wait for keep-alive sockets. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface InjectedFailure {
  status: number;
  body?: unknown;
}

/** The next `count` requests fail with `status` (and `body`, or the endpoint's default error body). */
export class FailureScript {
  private remaining = 0;
  private failure: InjectedFailure = { status: 500 };

  failNext(count: number, status: number, body?: unknown): void {
    this.remaining = count;
    this.failure = { status, body };
  }

  /** Consumes one scripted failure, if any is left. */
  take(): InjectedFailure | undefined {
    if (this.remaining <= 0) return undefined;
    this.remaining--;
    return this.failure;
  }
}
