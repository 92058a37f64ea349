// A queue worker on its own: the processOutbox function under the local host, in a process of its own. Run more than
// one beside `npm start` (or the soak run) to see several instances share the per-mailbox limits through storage.
//
//   WORKER_SETTINGS='{"MAIL_AUTH_MODE":…,"MailStorage":…}' node dist/sandbox/worker-process.js
//
// App settings come from WORKER_SETTINGS (JSON object) when set, else from the environment, and are checked by
// loadConfig like everywhere else. Settings named IDENTITY_* are also put in the environment, where
// @azure/identity looks for the managed identity endpoint. WORKER_OPTIONS (JSON, optional) tunes the runtime:
//   { "name": "w1", "log": "all" | "warn" | "error",
//     "host": { host.json queue settings to override, e.g. "maxPollingIntervalMs": 100 },
//     "policy": { "maxAttempts", "claimMs", "quotaDeferMs", "maxAgeMs", "backoffMs": 200 | { "firstMs", "maxMs" } },
//     "lanes": { "waitMs", "idleMs" }, "leaseSeconds": 15, "pace": { "windowMs", "assumedSendMs" } }
// One line per log event on stdout. SIGTERM or SIGINT (or the parent going away) stops polling, lets the messages in
// hand finish, gives the SMTP connection slots back and exits 0. When forked with an IPC channel it sends
// { type: 'ready' } once polling runs and { type: 'stopped' } before it exits.
import { ConfigError, loadConfig } from '../src/config/load-config';
import { createAppServices, type AppServices, type AppServicesOptions } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { readQueueHostSettings, type QueueHostSettings } from '../src/config/host-json';
import type { DeliveryPolicy } from '../src/delivery/process-message';
import type { LaneTiming } from '../src/smtp/smtp-sender';
import { startLocalHost, type LocalHost } from './functions-host';
import { localFunctions } from './local-functions';

export interface WorkerOptions {
  name?: string;
  log?: 'all' | 'warn' | 'error';
  host?: Partial<QueueHostSettings>;
  policy?: Partial<Omit<DeliveryPolicy, 'backoffMs'>> & { backoffMs?: number | { firstMs: number; maxMs: number } };
  lanes?: LaneTiming;
  leaseSeconds?: number;
  pace?: AppServicesOptions['pace'];
}

function parseJson<T>(name: string): T | undefined {
  const text = process.env[name];
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** A constant delay, or doubling from firstMs up to maxMs with ±20 % jitter like the default policy. */
function backoff(spec: number | { firstMs: number; maxMs: number }): DeliveryPolicy['backoffMs'] {
  if (typeof spec === 'number') return () => spec;
  return (attempts) => Math.min(spec.firstMs * 2 ** Math.max(0, attempts - 1), spec.maxMs) * (0.8 + Math.random() * 0.4);
}

export function runtimeOptions(options: WorkerOptions): AppServicesOptions {
  const { backoffMs, ...policy } = options.policy ?? {};
  return {
    host: { ...readQueueHostSettings(), ...options.host },
    policy: { ...policy, ...(backoffMs !== undefined ? { backoffMs: backoff(backoffMs) } : {}) },
    lanes: options.lanes,
    leaseSeconds: options.leaseSeconds,
    pace: options.pace,
  };
}

const LEVELS = { all: 0, warn: 1, error: 2 } as const;
const rank = (level: string) => (level === 'error' || level === 'critical' ? 2 : level === 'warning' ? 1 : 0);

async function main(): Promise<void> {
  const settings = parseJson<Record<string, string>>('WORKER_SETTINGS') ?? (process.env as Record<string, string>);
  const options = parseJson<WorkerOptions>('WORKER_OPTIONS') ?? {};
  const name = options.name ?? `worker-${process.pid}`;
  const threshold = LEVELS[options.log ?? 'all'];
  for (const [key, value] of Object.entries(settings)) if (key.startsWith('IDENTITY_')) process.env[key] = value;

  const print = (level: string, fn: string, message: string) => {
    if (rank(level) >= threshold) console.log(`${new Date().toISOString()} ${name} ${level} ${fn}: ${message.replace(/\s*\n\s*/g, ' | ')}`);
  };

  const started: { runtime?: AppServices; host?: LocalHost } = {};
  let stopping: Promise<void> | undefined;
  const stop = (why: string) =>
    (stopping ??= (async () => {
      print('information', 'worker', `stopping (${why})`);
      await started.host?.close();
      await started.runtime?.close();
      print('information', 'worker', 'stopped');
      if (process.connected && process.send) process.send({ type: 'stopped', pid: process.pid }, () => process.exit(0));
      else process.exit(0);
    })());
  // Listening from the start, not once polling runs: a worker whose start hangs (storage not answering) must still
  // end with its parent.
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  if (process.connected) process.once('disconnect', () => void stop('parent disconnected'));
  // Without an IPC channel, notice a parent that died without a signal for us.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && void stop('parent gone'), 1000).unref();

  const config = loadConfig(settings);
  const runtime = (started.runtime = createAppServices(config, { ...runtimeOptions(options), settings }));
  await provisionStorage(config, runtime.storage);
  const { queue } = localFunctions(runtime);
  started.host = await startLocalHost({ port: 0, http: [], queue, settings: runtime.host, log: print, loopbackOnly: {} });
  print(
    'information',
    'worker',
    `polling ${config.queueName} (pid ${process.pid}, auth ${config.auth.mode}, ${config.smtp.maxConnectionsPerMailbox} connections and ${config.maxMessagesPerMinute} messages/min per mailbox)`,
  );
  process.send?.({ type: 'ready', pid: process.pid });
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? error.message : ((error as Error).stack ?? String(error)));
  process.exit(1);
});
