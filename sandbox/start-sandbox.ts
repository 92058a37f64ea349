// The sandbox's parts put together, for `npm start` (sandbox.ts) and for tests alike: the local stack (or only
// Azurite when real SMTP settings are given), the app's runtime, the local Functions host, and in front of it
// the sandbox's address with the inbox page at its root.
import { loadConfig, type MailConfig } from '../src/config/load-config';
import type { AuthMode } from '../src/identity/auth-mode';
import { createAppServices, type AppServices, type AppServicesOptions } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { statusView } from '../src/status/status-view';
import { createReadDeliveryReportsHandler } from '../src/handlers/read-delivery-reports';
import { InvocationContext } from '@azure/functions';
import { startAzurite } from './azurite';
import { startLocalHost, type LogLine } from './functions-host';
import { localFunctions } from './local-functions';
import { startLocalStack, type LocalStack, type LocalStackOptions } from './stack';
import type { ReceivedMessage } from './smtp-sink';
import type { ReceivedCallback } from './callback-receiver';
import { startSandboxFront } from './sandbox-front';
import { createInbox, type Inbox } from './inbox/inbox';
import { inboxRoutes } from './inbox/routes';

export interface SandboxOptions {
  /** The sandbox's address: the page and the functions (0: any free port). */
  port: number;
  /** The user's settings (local.settings.json and the environment). MAIL_SMTP_HOST set: real SMTP, no local stack. */
  env: Record<string, string | undefined>;
  /** Azurite keeps its data here; in memory when absent. */
  dataDir?: string;
  azuritePorts?: LocalStackOptions['azuritePorts'];
  /** The local SMTP server writes each message there as an .eml file. */
  mailDir?: string;
  runtime?: AppServicesOptions;
  log: LogLine;
  onMessage?: (message: ReceivedMessage) => void;
  /** A callback the local receiver got (embedded mode). */
  onCallback?: (callback: ReceivedCallback) => void;
}

export interface Sandbox {
  url: string;
  /** True when the local stack stands in for Entra and Exchange. */
  embedded: boolean;
  config: MailConfig;
  runtime: AppServices;
  stack?: LocalStack;
  inbox?: Inbox;
  close(): Promise<void>;
}

/** Starts every part, or stops what it started and throws (a ConfigError names the bad settings). */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const closers: Array<() => Promise<void> | void> = [];
  // Later parts first; each even if another one fails to stop.
  const close = async () => {
    for (const step of closers.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined);
  };
  try {
    const front = await startSandboxFront(options.port);
    closers.push(() => front.close());
    const embedded = !options.env.MAIL_SMTP_HOST;
    let settings: Record<string, string | undefined>;
    let stack: LocalStack | undefined;
    let inbox: Inbox | undefined;
    // The status lookup needs the runtime, which needs the stack's settings: it is bound once both exist.
    let runtime: AppServices | undefined;
    if (embedded) {
      const found = (inbox = createInbox(async (id) => {
        const stored = await runtime?.status.get(id);
        return stored ? statusView(stored.record) : undefined;
      }));
      closers.push(() => found.close());
      stack = await startLocalStack({
        dataDir: options.dataDir,
        azuritePorts: options.azuritePorts,
        mailDir: options.mailDir,
        onCallback: (callback) => {
          found.addCallback(callback);
          options.onCallback?.(callback);
        },
        onMessage: (message) => {
          void found
            .add(message)
            .catch((error: Error) => options.log('warning', 'inbox', `Could not parse a received message: ${error.message}`));
          options.onMessage?.(message);
        },
      });
      const started = stack;
      closers.push(() => started.stop());
      const mode = (options.env.MAIL_AUTH_MODE ?? 'managedIdentity') as AuthMode;
      settings = { ...options.env, ...stack.settings(mode) };
      // @azure/identity finds the managed identity endpoint in the environment, as on Azure.
      Object.assign(process.env, stack.managedIdentity.env);
    } else {
      settings = { ...options.env };
      if (!settings.MailStorage || settings.MailStorage === 'UseDevelopmentStorage=true') {
        const azurite = await startAzurite({ location: options.dataDir, ports: options.azuritePorts });
        closers.push(() => azurite.stop());
        settings.MailStorage = azurite.connectionString;
      }
    }
    // Status URLs point at this address, as WEBSITE_HOSTNAME makes them point at the app in Azure.
    settings.MAIL_PUBLIC_BASE_URL ??= front.url;
    const config = loadConfig(settings);
    const created = (runtime = createAppServices(config, { ...options.runtime, settings }));
    closers.push(() => created.close());
    await provisionStorage(config, created.storage);
    const host = await startLocalHost({
      port: 0,
      settings: created.host,
      ...localFunctions(created),
      log: options.log,
      loopbackOnly: { alsoPorts: [front.port] },
    });
    closers.push(() => host.close());
    if (stack) {
      // The local host runs no timers: the delivery report reader runs a second after a report lands in a sending
      // mailbox (the chaos recipients' bounces and delays), where Azure's timer would read it within five minutes.
      const readReports = createReadDeliveryReportsHandler(() => ({
        config,
        tokens: created.tokens,
        status: created.status,
        callbacks: created.callbacks,
        suppressions: created.suppressions,
      }));
      const context = new InvocationContext({
        functionName: 'readDeliveryReports',
        logHandler: (level, ...args) => options.log(level, 'readDeliveryReports', args.join(' ')),
      });
      const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
      let pending: NodeJS.Timeout | undefined;
      const stopListening = stack.mailboxes.onDeliver(() => {
        pending ??= setTimeout(() => {
          pending = undefined;
          readReports(timer, context).catch((error: Error) => options.log('warning', 'readDeliveryReports', error.message));
        }, 1000);
      });
      closers.push(() => {
        stopListening();
        clearTimeout(pending);
        return Promise.resolve();
      });
    }
    const routes = inboxRoutes(inbox, {
      smtp: `${config.smtp.host}:${config.smtp.port}`,
      callbackReceiver: stack ? `${stack.callbacks.url}` : undefined,
    });
    closers.push(() => routes.close());
    front.setRoutes(routes);
    front.setBackend(Number(new URL(host.url).port));
    return { url: front.url, embedded, config, runtime: created, stack, inbox, close };
  } catch (error) {
    await close();
    throw error;
  }
}
