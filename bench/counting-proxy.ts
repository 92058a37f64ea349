// A counting HTTP proxy in front of Azurite: one listener per storage service, so a connection string pointing at
// it sends every request of the clients built from it through here. It counts what goes over the wire, SDK retries
// included, by service and by operation, and forwards over kept-alive connections.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME, type Azurite } from '../sandbox/azurite';

export const SERVICES = ['queue', 'table', 'blob'] as const;
export type Service = (typeof SERVICES)[number];

/** Requests per service and operation, e.g. counts.table['PUT entity'] = 200. */
export type Counts = Record<Service, Record<string, number>>;

export interface CountingProxy {
  connectionString: string;
  counts(): Counts;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(azurite: Azurite): Promise<CountingProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let counts = emptyCounts();
  const targets: Record<Service, number> = { queue: azurite.queuePort, table: azurite.tablePort, blob: azurite.blobPort };
  const servers = {} as Record<Service, Server>;
  const ports = {} as Record<Service, number>;
  for (const service of SERVICES) {
    const server = createServer((incoming, outgoing) => {
      const operation = operationOf(service, incoming);
      counts[service][operation] = (counts[service][operation] ?? 0) + 1;
      const forwarded = httpRequest(
        { host: '127.0.0.1', port: targets[service], method: incoming.method, path: incoming.url, headers: incoming.headers, agent },
        (response) => {
          outgoing.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(outgoing);
        },
      );
      forwarded.on('error', (error) => outgoing.destroy(error));
      incoming.pipe(forwarded);
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers[service] = server;
    ports[service] = (server.address() as AddressInfo).port;
  }
  const endpoint = (service: Service) => `http://127.0.0.1:${ports[service]}/${AZURITE_ACCOUNT_NAME}`;
  return {
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};` +
      `BlobEndpoint=${endpoint('blob')};QueueEndpoint=${endpoint('queue')};TableEndpoint=${endpoint('table')};`,
    counts: () => structuredClone(counts),
    reset: () => void (counts = emptyCounts()),
    async close() {
      for (const server of Object.values(servers)) server.closeAllConnections();
      await Promise.all(Object.values(servers).map((server) => new Promise((resolve) => server.close(resolve))));
      agent.destroy();
    },
  };
}

function emptyCounts(): Counts {
  return { queue: {}, table: {}, blob: {} };
}

/** A short name for what a request does: the method and the part of the REST API it addresses. */
function operationOf(service: Service, request: IncomingMessage): string {
  const url = new URL(request.url ?? '/', 'http://proxy');
  const method = request.method ?? '?';
  if (service === 'queue') {
    if (!url.pathname.endsWith('/messages') && !url.pathname.includes('/messages/')) return `${method} queue`;
    if (method === 'GET') return url.searchParams.get('peekonly') === 'true' ? 'peek' : 'receive';
    if (method === 'POST') return 'put';
    if (method === 'DELETE') return url.pathname.endsWith('/messages') ? 'clear' : 'delete';
    if (method === 'PUT') return 'update';
    return method;
  }
  if (service === 'table') {
    if (url.pathname.endsWith('$batch')) return 'batch';
    const entity = /\(.+\)$/.test(decodeURIComponent(url.pathname));
    if (method === 'POST') return url.pathname.endsWith('/Tables') ? 'create table' : 'insert';
    if (method === 'GET') return entity ? 'get' : 'query';
    if (method === 'PUT') return request.headers['if-match'] ? 'replace (etag)' : 'upsert';
    if (method === 'MERGE' || method === 'PATCH') return request.headers['if-match'] ? 'merge (etag)' : 'merge';
    return method === 'DELETE' ? 'delete' : method;
  }
  const comp = url.searchParams.get('comp');
  if (comp === 'lease') return `lease ${String(request.headers['x-ms-lease-action'] ?? '?')}`;
  if (comp) return `${method} ${comp}`;
  const conditional = request.headers['if-match'] ? ' (etag)' : request.headers['if-none-match'] ? ' (if none)' : '';
  if (method === 'PUT') return `upload${conditional}`;
  if (method === 'GET') return 'download';
  if (method === 'HEAD') return 'properties';
  return method === 'DELETE' ? 'delete' : method;
}
