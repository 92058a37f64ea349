// `npm start`: the whole product on one machine, no Azure account. Starts the local stack (Azurite,
// token endpoints, an Exchange-like SMTP server), then the functions on http://localhost:7071, with the inbox
// page at its root. With MAIL_SMTP_HOST set (environment or local.settings.json) it uses those real settings
// instead and only supplies Azurite.
import { join, relative } from 'node:path';
import { simpleParser } from 'mailparser';
import { ConfigError } from '../src/config/load-config';
import { APP_ROOT } from '../src/app-root';
import { readLocalSettings } from '../src/config/local-settings';
import { startSandbox, type Sandbox } from './start-sandbox';
import { watchParent } from './parent-watch';
import { startBanner } from './banner';
import type { ReceivedMessage } from './smtp-sink';
import type { ReceivedCallback } from './callback-receiver';

const PORT = Number(process.env.SANDBOX_PORT ?? 7071);
const DATA_DIR = process.env.SANDBOX_DATA_DIR ?? join(APP_ROOT, '.local');
const MAIL_DIR = join(DATA_DIR, 'mailbox');
// Azurite's usual ports, so UseDevelopmentStorage=true and Storage Explorer find it (SANDBOX_AZURITE_PORT moves all three).
const AZURITE_BASE = Number(process.env.SANDBOX_AZURITE_PORT ?? 10000);
const AZURITE_PORTS = { blob: AZURITE_BASE, queue: AZURITE_BASE + 1, table: AZURITE_BASE + 2 };

async function printReceived(message: ReceivedMessage): Promise<void> {
  const parsed = await simpleParser(message.raw);
  const file = message.file ? relative(process.cwd(), message.file) : '';
  console.log(
    `📨 ${new Date(message.receivedAt).toLocaleTimeString()}  ${message.mailFrom} → ${message.rcptTo.join(', ')}  "${parsed.subject ?? ''}"  ${file}`,
  );
}

function printCallback(callback: ReceivedCallback): void {
  const check = callback.verified ? 'signature verified' : `signature refused (${callback.detail ?? ''})`;
  console.log(
    `🔔 ${new Date(callback.receivedAt).toLocaleTimeString()}  callback ${callback.event?.type ?? ''} for ${callback.event?.subject ?? '?'}: ${check}, answered ${callback.answered}`,
  );
}

// Stopping is set up before anything starts, so a signal during the start still stops what has started. SIGHUP is
// what a closing terminal sends; the parent watch covers a parent that went without passing a signal on.
let started: Promise<Sandbox> | undefined;
let stopping = false;
function stop(why: string): void {
  if (stopping) return;
  stopping = true;
  // The terminal may be gone (SIGHUP): a failed write must not end the process before it has stopped its parts.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  console.log(`Stopping (${why}).`);
  // Bounded: a stop must not wait on storage retries if something else stopped Azurite first.
  const closed = (started ?? Promise.reject(new Error('not started'))).then((sandbox) => sandbox.close()).catch(() => undefined);
  void Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]).then(() => process.exit(0));
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => stop(signal));
watchParent((pid) => stop(`process ${pid}, which started this one, is gone`));

async function main(): Promise<void> {
  const user = { ...readLocalSettings(), ...process.env } as Record<string, string | undefined>;
  // With real settings, whatever reads the environment (as on Azure) sees them too.
  if (user.MAIL_SMTP_HOST) for (const [name, value] of Object.entries(user)) if (value !== undefined) process.env[name] = value;
  started = startSandbox({
    port: PORT,
    env: user,
    dataDir: join(DATA_DIR, 'azurite'),
    azuritePorts: AZURITE_PORTS,
    mailDir: MAIL_DIR,
    onMessage: (m) => void printReceived(m),
    onCallback: printCallback,
    log: (level, fn, message) => (level === 'error' || level === 'warning' ? console.error : console.log)(`[${fn}] ${message}`),
  });
  const sandbox = await started;
  if (stopping) return;
  const { url, embedded, config } = sandbox;
  const callbackUrl = sandbox.stack ? `${sandbox.stack.callbacks.url}/sandbox` : undefined;

  const imap = sandbox.stack ? `${sandbox.stack.imap.host}:${sandbox.stack.imap.port}` : undefined;
  console.log(startBanner({ url, embedded, config, mailDir: relative(process.cwd(), MAIL_DIR), callbackUrl, imap }));
}

main().catch((error) => {
  if (stopping) return;
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
