// Storage as the app reaches it (same connection, same identity): each queue, the table and each container it uses.
import { connect } from 'node:net';
import type { MailConfig } from '../config/load-config';
import type { StorageClients } from '../storage/clients';
import { explainStorageError } from './explain';
import { fail, pass, type CheckResult } from './report';

interface Target {
  id: string;
  what: string;
  role: string;
  url: string;
  /** Resolves when the identity may use it; false when it does not exist. */
  probe(signal: AbortSignal): Promise<boolean>;
}

function targets(config: MailConfig, storage: StorageClients): Target[] {
  const queue = (name: string): Target => {
    const client = storage.queues.getQueueClient(name);
    return {
      id: `storage:queue:${name}`,
      what: `queue ${name}`,
      role: 'Storage Queue Data Contributor',
      url: client.url,
      probe: async (abortSignal) => (await client.getProperties({ abortSignal }), true),
    };
  };
  const container = (name: string): Target => {
    const client = storage.blobs.getContainerClient(name);
    return {
      id: `storage:container:${name}`,
      what: `blob container ${name}`,
      role: 'Storage Blob Data Contributor',
      url: client.url,
      probe: (abortSignal) => client.exists({ abortSignal }),
    };
  };
  const table = storage.table(config.statusTable);
  return [
    queue(config.queueName),
    queue(`${config.queueName}-poison`),
    {
      id: `storage:table:${config.statusTable}`,
      what: `table ${config.statusTable}`,
      role: 'Storage Table Data Contributor',
      url: table.url,
      probe: async (abortSignal) => (await table.listEntities({ abortSignal }).byPage({ maxPageSize: 1 }).next(), true),
    },
    container(config.payloadContainer),
    container(config.governorContainer),
  ];
}

export async function checkStorage(config: MailConfig, storage: StorageClients, timeoutMs: number): Promise<CheckResult[]> {
  return Promise.all(
    targets(config, storage).map(async (target): Promise<CheckResult> => {
      const title = `Storage ${target.what}`;
      try {
        // The SDKs retry an unreachable endpoint for half a minute and more; the doctor waits a bounded time.
        const exists = await target.probe(AbortSignal.timeout(timeoutMs));
        if (exists) return pass(target.id, `${title}: accessible`);
        const { fix } = explainStorageError({ statusCode: 404 }, target.what, target.role);
        return fail(target.id, `${title}: does not exist`, fix);
      } catch (error) {
        const aborted = (error as Error).name === 'AbortError';
        const { detail, fix } = aborted
          ? explainStorageError(
              { message: `no answer within ${timeoutMs / 1000} s; ${await reachability(target.url)}` },
              target.what,
              target.role,
            )
          : explainStorageError(error, target.what, target.role);
        const missing = (error as { statusCode?: number }).statusCode === 404;
        return fail(target.id, `${title}: ${missing ? 'does not exist' : 'not accessible'}`, fix, { details: [detail] });
      }
    }),
  );
}

/** Why an endpoint did not answer: whether a TCP connection to it can be made at all. */
function reachability(url: string): Promise<string> {
  const { hostname, port, protocol } = new URL(url);
  const target = { host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) || (protocol === 'https:' ? 443 : 80) };
  return new Promise((resolve) => {
    const socket = connect(target);
    const done = (text: string) => (socket.destroy(), resolve(text));
    socket.setTimeout(3000, () => done(`no TCP connection to ${target.host}:${target.port} within 3 s`));
    socket.once('connect', () => done(`${target.host}:${target.port} accepts connections but did not answer`));
    socket.once('error', (error: NodeJS.ErrnoException) => done(`${target.host}:${target.port}: ${error.code ?? error.message}`));
  });
}
