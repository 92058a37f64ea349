// A local Application Insights ingestion endpoint (Breeze), for the exporter to send to: `IngestionEndpoint=` in the
// connection string points here. https with the local CA's localhost certificate: the exporter turns an http:// endpoint
// into https:// whatever the connection string says. POST <prefix>/v2.1/track takes a JSON array (or newline-delimited JSON) of
// envelopes, gzip-compressed when Content-Encoding says so, and answers as Breeze does: 200 with itemsReceived and
// itemsAccepted. Keeps every body exactly as it arrived, decompressed, so a test can search the raw bytes; any other
// request is kept as unexpected and answered 404.
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { LocalTls } from '../../sandbox/certs';

export interface Envelope {
  name: string;
  time: string;
  iKey?: string;
  tags?: Record<string, string>;
  data?: { baseType?: string; baseData?: Record<string, any> };
}

export interface IngestionEndpoint {
  /** For IngestionEndpoint= (and LiveEndpoint=) in the connection string. */
  url: string;
  /** Every track request's body, decompressed, as it arrived. */
  bodies: Buffer[];
  envelopes: Envelope[];
  /** Requests that were not a track call: method and path. */
  unexpected: string[];
  close(): Promise<void>;
}

const MAX_BODY = 32 * 1024 * 1024;

function read(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy(new Error('track body over 32 MB'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function parseEnvelopes(text: string): Envelope[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as Envelope[];
  return trimmed
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as Envelope);
}

export async function startIngestionEndpoint(tls: LocalTls): Promise<IngestionEndpoint> {
  const bodies: Buffer[] = [];
  const envelopes: Envelope[] = [];
  const unexpected: string[] = [];
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'POST' || !path.endsWith('/v2.1/track')) {
        unexpected.push(`${req.method} ${req.url}`);
        res.writeHead(404).end();
        return;
      }
      try {
        const raw = await read(req);
        const gzipped = /gzip/i.test(req.headers['content-encoding'] ?? '') || (raw[0] === 0x1f && raw[1] === 0x8b);
        const body = gzipped ? gunzipSync(raw) : raw;
        const items = parseEnvelopes(body.toString('utf8'));
        bodies.push(body);
        envelopes.push(...items);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ itemsReceived: items.length, itemsAccepted: items.length, errors: [] }));
      } catch (error) {
        unexpected.push(`unreadable track body: ${(error as Error).message}`);
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: 400, message: 'unreadable' }] }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://localhost:${port}/`,
    bodies,
    envelopes,
    unexpected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
