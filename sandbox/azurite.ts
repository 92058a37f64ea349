// Azurite (the real Storage emulator: blob, queue, table) as a child process of this one. Started from its node
// entry rather than through npx, so it can be killed by PID; it also ends by itself when this process dies
// (see exit-with-parent.ts). Requested ports must be free: a stale instance would otherwise answer silently.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';

export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
/** Azurite's well-known development account key (public, documented by Microsoft). */
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const HOST = '127.0.0.1';
const SERVICES = ['blob', 'queue', 'table'] as const;
type Service = (typeof SERVICES)[number];

export interface AzuriteOptions {
  /** Keep data in this directory across runs; default: in memory, gone when Azurite stops. */
  location?: string;
  /** Fixed ports (each must be free); free ones are picked for the rest. */
  ports?: Partial<Record<Service, number>>;
  /**
   * How long Azurite may take to accept connections on all three ports (default 60 s). On a loaded 2-core machine
   * (test runs side by side) Azurite 3.37 took 13.5–16 s, so the bound is generous: it ends a start that hangs, it does
   * not time one.
   */
  startTimeoutMs?: number;
}

export interface Azurite {
  /** Full connection string with explicit endpoints for all three services. */
  connectionString: string;
  blobPort: number;
  queuePort: number;
  tablePort: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const ports = await reservePorts(options.ports ?? {});
  const args = [
    '-r',
    join(__dirname, 'exit-with-parent.js'),
    require.resolve('azurite/dist/src/azurite.js'),
    ...SERVICES.flatMap((s) => [`--${s}Host`, HOST, `--${s}Port`, String(ports[s])]),
    ...(options.location ? ['--location', options.location] : ['--inMemoryPersistence']),
    '--silent',
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--loose',
  ];
  // Its own process group: a Ctrl+C or SIGTERM to ours reaches the sandbox, which stops Azurite last, after giving back
  // its connection leases; were Azurite stopped first, that would wait on retries to a storage that is gone.
  // exit-with-parent still ends it if its parent dies without stopping it.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: process.platform !== 'win32' });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-8000)));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      stderr += error.message;
      resolve();
    });
  });
  // Kill on the way out as well, so the ports are free at once rather than when exit-with-parent notices.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  try {
    await waitUntilListening(child, exited, Object.values(ports), options.startTimeoutMs ?? 60_000, () => stderr);
  } catch (error) {
    process.off('exit', killOnExit);
    // Gone before we report: a caller that gives up must not find Azurite still holding its ports.
    child.kill('SIGKILL');
    await exited;
    throw error;
  }

  const endpoint = (service: Service) => `http://${HOST}:${ports[service]}/${AZURITE_ACCOUNT_NAME}`;
  return {
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};` +
      `BlobEndpoint=${endpoint('blob')};QueueEndpoint=${endpoint('queue')};TableEndpoint=${endpoint('table')};`,
    blobPort: ports.blob,
    queuePort: ports.queue,
    tablePort: ports.table,
    pid: child.pid!,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      // In memory there is nothing to flush, and SIGTERM takes Azurite about 1.5 s; on disk, let it save.
      child.kill(options.location ? 'SIGTERM' : 'SIGKILL');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Checks that requested ports are free and picks free ones for the rest, holding all until every port is known. */
async function reservePorts(requested: Partial<Record<Service, number>>): Promise<Record<Service, number>> {
  const held: Server[] = [];
  try {
    const ports = {} as Record<Service, number>;
    for (const service of SERVICES) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          reject(
            error.code === 'EADDRINUSE'
              ? new Error(
                  `Azurite ${service} port ${requested[service]} on ${HOST} is already in use (a stale Azurite or another emulator?); stop that process or choose another port.`,
                )
              : error,
          ),
        );
        server.listen(requested[service] ?? 0, HOST, () => resolve());
      });
      held.push(server);
      ports[service] = (server.address() as AddressInfo).port;
    }
    return ports;
  } finally {
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

async function waitUntilListening(
  child: ChildProcess,
  exited: Promise<void>,
  ports: number[],
  timeoutMs: number,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const pending = new Set(ports);
  while (pending.size > 0) {
    if (hasExited) {
      throw new Error(`Azurite exited during start (code ${child.exitCode ?? child.signalCode}).\n${stderr() || '(no output on stderr)'}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Azurite did not accept connections on port(s) ${[...pending].join(', ')} within ${timeoutMs} ms.\n${stderr() || '(no output on stderr)'}`,
      );
    }
    for (const port of [...pending]) if (await accepts(port)) pending.delete(port);
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
