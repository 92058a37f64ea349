// `npm start`: the whole product on one machine, no Azure account. Starts the local stack (Azurite,
// token endpoints, an Exchange-like SMTP server), then the functions on http://localhost:7071.
// With MAIL_SMTP_HOST set (environment or local.settings.json) it uses those real settings instead
// and only supplies Azurite.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { simpleParser } from 'mailparser';
import { ConfigError, loadConfig } from '../config';
import type { AuthMode } from '../identity/auth-mode';
import { createRuntime } from '../runtime';
import { provisionStorage } from '../storage/provision';
import { APP_ROOT } from '../host-settings';
import { startLocalStack, type LocalStack } from './stack';
import { startAzurite, type Azurite } from './azurite';
import { startLocalHost } from './functions-host';
import { localFunctions } from './local-functions';
import type { ReceivedMessage } from './smtp-sink';

const PORT = Number(process.env.SANDBOX_PORT ?? 7071);
const DATA_DIR = join(APP_ROOT, '.local');
const MAIL_DIR = join(DATA_DIR, 'mailbox');
// Azurite's usual ports, so UseDevelopmentStorage=true and Storage Explorer find it.
const AZURITE_PORTS = { blob: 10000, queue: 10001, table: 10002 };

function localSettings(): Record<string, string> {
  const file = join(APP_ROOT, 'local.settings.json');
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, string> }).Values ?? {};
}

async function printReceived(message: ReceivedMessage): Promise<void> {
  const parsed = await simpleParser(message.raw);
  const file = message.file ? relative(process.cwd(), message.file) : '';
  console.log(`📨 ${new Date(message.receivedAt).toLocaleTimeString()}  ${message.mailFrom} → ${message.rcptTo.join(', ')}  "${parsed.subject ?? ''}"  ${file}`);
}

async function main(): Promise<void> {
  const user = { ...localSettings(), ...process.env } as Record<string, string | undefined>;
  const embedded = !user.MAIL_SMTP_HOST;
  let stack: LocalStack | undefined;
  let azurite: Azurite | undefined;
  if (embedded) {
    stack = await startLocalStack({ dataDir: join(DATA_DIR, 'azurite'), azuritePorts: AZURITE_PORTS, mailDir: MAIL_DIR, onMessage: (m) => void printReceived(m) });
    const mode = (user.MAIL_AUTH_MODE ?? 'managedIdentity') as AuthMode;
    Object.assign(process.env, stack.settings(mode));
  } else {
    for (const [name, value] of Object.entries(user)) if (value !== undefined) process.env[name] = value;
    if (!process.env.MailStorage || process.env.MailStorage === 'UseDevelopmentStorage=true') {
      azurite = await startAzurite({ location: join(DATA_DIR, 'azurite'), ports: AZURITE_PORTS });
      process.env.MailStorage = azurite.connectionString;
    }
  }

  // Status URLs point at this host, as WEBSITE_HOSTNAME makes them point at the app in Azure.
  process.env.MAIL_PUBLIC_BASE_URL ??= `http://localhost:${PORT}`;
  const config = loadConfig(process.env);
  const runtime = createRuntime(config);
  await provisionStorage(config, runtime.storage);
  const host = await startLocalHost({
    port: PORT,
    settings: runtime.host,
    ...localFunctions(runtime),
    log: (level, fn, message) => (level === 'error' || level === 'warning' ? console.error : console.log)(`[${fn}] ${message}`),
  });

  console.log(`
Mail sender running on ${host.url} (${embedded ? `local sandbox, auth mode ${config.auth.mode}` : `SMTP ${config.smtp.host}:${config.smtp.port}, auth mode ${config.auth.mode}`})
  Send:    POST ${host.url}/api/mail      Status: GET ${host.url}/api/mail/{id}      API: ${host.url}/api/openapi.json
${embedded ? `  Mailbox: ${relative(process.cwd(), MAIL_DIR)}/ (each message as an .eml file; a line per message below)\n` : ''}
Try it:
  curl -i -X POST ${host.url}/api/mail -H 'Content-Type: application/json' \\
    -d '{"to":"someone@example.com","subject":"Hello from the sandbox","text":"It works."}'

Press Ctrl+C to stop.`);

  const stop = async () => {
    await host.close();
    await runtime.close();
    await stack?.stop();
    await azurite?.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
