// A local stand-in for the Azure Functions host, for machines without Core Tools: serves the HTTP
// functions and drives the queue function with the host's semantics (base64 decoding, JSON items,
// dequeueCount, visibility timeout on failure, <queue>-poison after maxDequeueCount, batch size,
// polling back-off) as configured in host.json.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  HttpRequest,
  HttpResponse,
  InvocationContext,
  type HttpHandler,
  type HttpRequestInit,
  type StorageQueueHandler,
} from '@azure/functions';
import type { QueueClient, DequeuedMessageItem } from '@azure/storage-queue';
import type { QueueHostSettings } from '../src/config/host-json';
import { refuseForeign } from './loopback-guard';

// Flex Consumption refuses HTTP requests over 210 MB; the handler applies the app's own, smaller limit.
const MAX_REQUEST_BYTES = 210 * 1024 * 1024;

export interface HttpFunction {
  name: string;
  method: string;
  route: string; // Functions route template, e.g. "mail/{id}"
  handler: HttpHandler;
}

export interface QueueFunction {
  name: string;
  queue: QueueClient;
  poisonQueue: QueueClient;
  handler: StorageQueueHandler;
}

export type LogLine = (level: string, functionName: string, message: string) => void;

export interface LocalHostOptions {
  port: number;
  http: HttpFunction[];
  queue: QueueFunction[];
  settings: QueueHostSettings;
  log: LogLine;
  /**
   * Refuse requests not addressed to this host, or to one of `alsoPorts` (a front that passes requests on as they
   * came), by a loopback name, and requests from other web pages (see loopback-guard.ts). The sandbox and the worker
   * process set it; tests that stand this host in for Azure's, where any Host arrives, leave it out.
   */
  loopbackOnly?: { alsoPorts?: readonly number[] };
}

export interface LocalHost {
  url: string;
  close(): Promise<void>;
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const server = await serveHttp(options);
  const pollers = options.queue.map((fn) => startQueuePoller(fn, options.settings, options.log));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    async close() {
      await Promise.all(pollers.map((p) => p.stop()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function context(functionName: string, log: LogLine, triggerMetadata?: Record<string, unknown>): InvocationContext {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    triggerMetadata,
    logHandler: (level, ...args) => log(level, functionName, args.map(String).join(' ')),
  });
}

class BadRequestError extends Error {}

function matchRoute(template: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const pattern = template.replace(/\{(\w+)\??\}/g, (_, name: string) => (names.push(name), '([^/]+)'));
  const match = new RegExp(`^/api/${pattern}/?$`).exec(path);
  if (!match) return undefined;
  return Object.fromEntries(names.map((name, i) => [name, decodePathSegment(match[i + 1])]));
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`malformed percent-encoding in the path: ${segment.slice(0, 100)}`);
  }
}

/**
 * The request as the Functions host hands it over with HTTP streaming on: the body is a stream the handler
 * reads as far as it wants, so a too-large body is never held here. The URL is this host's own origin, not
 * one built from the caller's Host header.
 */
function streamedRequest(req: IncomingMessage, origin: string, params: Record<string, string>): HttpRequest {
  const url = new URL(req.url ?? '/', origin);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const nativeRequest = new Request(url, {
    method: req.method,
    headers,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  });
  // nativeRequest is how the library itself builds streamed requests; it is not in the public init type.
  return new HttpRequest({ nativeRequest, params } as HttpRequestInit);
}

async function serveHttp(options: LocalHostOptions): Promise<Server> {
  let origin = 'http://localhost';
  let ports: number[] = [];
  const server = createServer((req, res) => {
    if (options.loopbackOnly && refuseForeign(req, res, 'http', ports)) return;
    void handle(req, res);
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Whatever the handler left unread is not wanted: close the connection once answered rather than drain it.
    res.once('finish', () => {
      if (!req.complete) req.destroy();
    });
    try {
      const url = new URL(req.url ?? '/', origin);
      const routed = options.http.map((fn) => ({ fn, params: matchRoute(fn.route, url.pathname) })).filter((r) => r.params !== undefined);
      const target = routed.find((r) => r.fn.method === req.method);
      if (!target) {
        res.writeHead(routed.length > 0 ? 405 : 404).end();
        return;
      }
      if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) {
        res.writeHead(413, { Connection: 'close' }).end();
        return;
      }
      const request = streamedRequest(req, origin, target.params!);
      const result = await target.fn.handler(request, context(target.fn.name, options.log));
      const response = result instanceof HttpResponse ? result : new HttpResponse(result);
      res.writeHead(response.status ?? 200, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      if (error instanceof BadRequestError) {
        if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end(error.message);
        return;
      }
      options.log('error', 'http', `Unhandled error: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`Port ${options.port} is in use; stop what holds it or choose another port.`) : error),
    );
    // Loopback only: the local host does not check function keys, as Core Tools does not.
    server.listen(options.port, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://localhost:${port}`;
  ports = [port, ...(options.loopbackOnly?.alsoPorts ?? [])];
  return server;
}

const MIN_POLL_MS = 100;
// The host keeps a message invisible while its function runs; if the process dies, it shows up again after this.
const PROCESSING_VISIBILITY_MS = 10 * 60_000;

function startQueuePoller(fn: QueueFunction, settings: QueueHostSettings, log: LogLine) {
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  let delay = MIN_POLL_MS;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => (clearTimeout(timer), resolve());
    });

  async function handle(message: DequeuedMessageItem): Promise<void> {
    const metadata = {
      id: message.messageId,
      dequeueCount: message.dequeueCount,
      insertionTime: message.insertedOn.toISOString(),
      expirationTime: message.expiresOn.toISOString(),
      nextVisibleTime: message.nextVisibleOn.toISOString(),
      popReceipt: message.popReceipt,
    };
    try {
      const item = queueItem(message.messageText, settings);
      await fn.handler(item, context(fn.name, log, metadata));
      await fn.queue.deleteMessage(message.messageId, message.popReceipt);
    } catch (error) {
      if (message.dequeueCount >= settings.maxDequeueCount) {
        log('error', fn.name, `Message ${message.messageId} failed ${message.dequeueCount} times; moving it to ${fn.poisonQueue.name}.`);
        await fn.poisonQueue.sendMessage(message.messageText);
        await fn.queue.deleteMessage(message.messageId, message.popReceipt);
      } else {
        log('warning', fn.name, `Invocation failed (${(error as Error).message}); retrying after ${settings.visibilityTimeoutMs} ms.`);
        await fn.queue.updateMessage(message.messageId, message.popReceipt, undefined, Math.ceil(settings.visibilityTimeoutMs / 1000));
      }
    }
  }

  const loop = (async () => {
    while (!stopped) {
      if (inFlight.size > settings.newBatchThreshold) {
        await Promise.race(inFlight);
        continue;
      }
      let messages: DequeuedMessageItem[] = [];
      try {
        const response = await fn.queue.receiveMessages({
          numberOfMessages: settings.batchSize,
          visibilityTimeout: Math.ceil((settings.processingVisibilityMs ?? PROCESSING_VISIBILITY_MS) / 1000),
        });
        messages = response.receivedMessageItems;
      } catch (error) {
        log('warning', fn.name, `Polling ${fn.queue.name} failed: ${(error as Error).message}`);
      }
      for (const message of messages) {
        const task = handle(message)
          .catch((error) => log('error', fn.name, `Could not settle message ${message.messageId}: ${(error as Error).message}`))
          .finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
      // Back off exponentially while the queue is empty, up to maxPollingInterval, as the host does.
      delay = messages.length > 0 ? MIN_POLL_MS : Math.min(delay * 2, settings.maxPollingIntervalMs);
      if (messages.length === 0) await sleep(delay);
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      await Promise.all(inFlight);
    },
  };
}

/**
 * What the host hands the function: base64-decoded text, parsed when it is JSON. Like the host, text that
 * is not base64 fails before the function runs, so such a message ends in the poison queue.
 */
function queueItem(messageText: string, settings: QueueHostSettings): unknown {
  if (settings.messageEncoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(messageText.trim())) {
    throw new Error('the message is not base64-encoded (host.json messageEncoding is base64)');
  }
  const text = settings.messageEncoding === 'base64' ? Buffer.from(messageText, 'base64').toString('utf8') : messageText;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
