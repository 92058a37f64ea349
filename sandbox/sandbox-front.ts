// The sandbox's one address (http://localhost:7071): the inbox page at the root, everything else passed on
// as it is to the local Functions host, which listens on a loopback port of its own.
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { refuseForeign } from './loopback-guard';

// Headers that describe one connection, not the request: each side sets its own.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

export interface FrontRoutes {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export interface SandboxFront {
  url: string;
  port: number;
  /** Until set, everything but the page's own routes answers 503. */
  setBackend(port: number): void;
  setRoutes(routes: FrontRoutes): void;
  close(): Promise<void>;
}

export async function startSandboxFront(port: number): Promise<SandboxFront> {
  let backend: number | undefined;
  let routes: FrontRoutes | undefined;
  const sockets = new Set<Socket>();
  let actual = port;
  const server = createServer((req, res) => {
    // The page, the inbox's messages and files, and the functions alike: a request from another site is refused.
    if (refuseForeign(req, res, 'http', [actual])) return;
    if (routes?.handle(req, res)) return;
    if (backend === undefined) {
      res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '1' }).end('The sandbox is starting.');
      return;
    }
    forward(req, res, backend);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`Port ${port} is in use; stop what holds it or choose another port (SANDBOX_PORT).`)
          : error,
      ),
    );
    // Loopback only: the local host checks no function keys, as Core Tools does not.
    server.listen(port, '127.0.0.1', resolve);
  });
  actual = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${actual}`,
    port: actual,
    setBackend: (p) => (backend = p),
    setRoutes: (r) => (routes = r),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function forward(req: IncomingMessage, res: ServerResponse, port: number): void {
  // One connection per request (no keep-alive agent): an idle pooled connection would hold the local host's
  // close() open for its keep-alive timeout when the sandbox stops.
  const options = { host: '127.0.0.1', port, method: req.method, path: req.url, headers: endToEnd(req.headers), agent: false };
  const upstream = request(options, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
    answer.pipe(res);
  });
  upstream.on('error', () => {
    if (res.headersSent) res.destroy();
    else res.writeHead(502, { 'Content-Type': 'text/plain' }).end('The local Functions host did not answer.');
  });
  // The host may answer before reading the whole body (413): then the rest is not wanted here either.
  res.once('finish', () => {
    if (!req.complete) req.destroy();
  });
  req.pipe(upstream);
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
}
