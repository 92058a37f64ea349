// Test harness: the real local stack (Azurite, token endpoints, Exchange-like SMTP server), the app's
// runtime configured against it, and the local Functions host driving the queue function.
import { createServer, type AddressInfo } from 'node:net';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { simpleParser, type ParsedMail } from 'mailparser';
import { loadConfig, type MailConfig } from '../../src/config/load-config';
import type { AuthMode } from '../../src/identity/auth-mode';
import { createAppServices, type AppServices, type AppServicesOptions } from '../../src/hosting/app-services';
import { provisionStorage } from '../../src/storage/provision';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../sandbox/stack';
import { startLocalHost, type LocalHost } from '../../sandbox/functions-host';
import { localFunctions } from '../../sandbox/local-functions';
import { createSendMailHandler } from '../../src/handlers/send-mail';
import type { QueueHostSettings } from '../../src/config/host-json';
import type { StatusRecord } from '../../src/status/status-store';

export const FAST_HOST: QueueHostSettings = {
  batchSize: 8,
  newBatchThreshold: 4,
  maxDequeueCount: 5,
  visibilityTimeoutMs: 0,
  maxPollingIntervalMs: 100,
  messageEncoding: 'base64',
};

export const FAST_SERVICES: AppServicesOptions = {
  host: FAST_HOST,
  policy: { backoffMs: () => 200, quotaDeferMs: 1_000, claimMs: 3_000 },
  lanes: { waitMs: 2_000, idleMs: 500 },
  leaseSeconds: 15,
};

export interface HarnessOptions {
  mode?: AuthMode;
  stack?: LocalStackOptions;
  settings?: Record<string, string>;
  runtime?: AppServicesOptions;
  /** Start the local host's queue poller (default true). */
  worker?: boolean;
}

export interface Harness {
  stack: LocalStack;
  settings: Record<string, string>;
  config: MailConfig;
  runtime: AppServices;
  host?: LocalHost;
  logs: string[];
  /** Calls the HTTP function's handler the way the host would. */
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; json: any }>;
  waitForFinal(id: string, timeoutMs?: number): Promise<StatusRecord>;
  /** Waits (up to 5 s) until a log line contains `text`; the caller asserts on the logs afterwards. */
  waitForLog(text: string): Promise<void>;
  received(messageId: string): Promise<ParsedMail>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const stack = await startLocalStack(options.stack);
  let runtime: AppServices | undefined;
  let host: LocalHost | undefined;
  // Stops what has been started, later parts first, each even if closing another one throws.
  const close = async () => {
    const errors: unknown[] = [];
    for (const step of [() => host?.close(), () => runtime?.close(), () => stack.stop()]) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateError(errors, 'closing the test harness failed');
  };
  const mode = options.mode ?? 'clientSecret';
  const logs: string[] = [];
  let settings: Record<string, string>;
  let config: MailConfig;
  try {
    // A high rate limit unless a test is about the governor: tests send many messages from one mailbox.
    // The local host's port is chosen first so status URLs (MAIL_PUBLIC_BASE_URL) point at it, as WEBSITE_HOSTNAME does in Azure.
    const port = await freePort();
    settings = {
      ...stack.settings(mode),
      MAIL_MAX_MESSAGES_PER_MINUTE: '10000',
      MAIL_PUBLIC_BASE_URL: `http://localhost:${port}`,
      ...options.settings,
    };
    // @azure/identity reads the managed identity endpoint from the environment.
    if (mode === 'managedIdentity' || mode === 'federatedIdentity') Object.assign(process.env, stack.managedIdentity.env);
    config = loadConfig(settings);
    const created = (runtime = createAppServices(config, { ...FAST_SERVICES, ...options.runtime }));
    await provisionStorage(config, created.storage);
    host =
      options.worker === false
        ? undefined
        : await startLocalHost({
            port,
            settings: created.host,
            ...localFunctions(created),
            log: (level, fn, message) => logs.push(`${level} ${fn}: ${message}`),
          });
  } catch (error) {
    // Nothing of a failed start may outlive it: Azurite and the servers would keep the test file from ever ending.
    await close().catch(() => undefined);
    throw error;
  }
  const started = runtime;
  const sendMail = createSendMailHandler(() => started);

  return {
    stack,
    settings,
    config,
    runtime: started,
    host,
    logs,
    async post(body, headers = {}) {
      const request = new HttpRequest({
        method: 'POST',
        url: 'http://localhost:7071/api/mail?code=test-key',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? { string: body } : { string: JSON.stringify(body) },
      });
      const context = new InvocationContext({
        functionName: 'sendMail',
        logHandler: (level, ...args) => logs.push(`${level} sendMail: ${args.join(' ')}`),
      });
      const response = await sendMail(request, context);
      const headersOut = new Headers(response.headers);
      const json = response.jsonBody ?? (typeof response.body === 'string' ? JSON.parse(response.body) : undefined);
      return { status: response.status ?? 200, headers: headersOut, json };
    },
    async waitForFinal(id, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const stored = await started.status.get(id);
        if (stored && (stored.record.status === 'sent' || stored.record.status === 'failed')) return stored.record;
        if (Date.now() > deadline)
          throw new Error(
            `message ${id} not final after ${timeoutMs} ms: ${JSON.stringify(stored?.record)}\n${logs.slice(-10).join('\n')}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async waitForLog(text) {
      const deadline = Date.now() + 5000;
      while (!logs.some((l) => l.includes(text)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    async received(messageId) {
      const message = stack.smtp.messages.find((m) => m.messageId === messageId);
      if (!message)
        throw new Error(`no message ${messageId} at the SMTP server (has: ${stack.smtp.messages.map((m) => m.messageId).join(', ')})`);
      return simpleParser(message.raw, { keepCidLinks: true });
    },
    close,
  };
}

/** A port free on loopback right now (for servers whose port must be known before they start). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The first of `count` consecutive ports free on loopback right now, for a server that takes a run of ports (Azurite
 * in the sandbox: blob, queue, table). Picked below Linux's ephemeral range (32768 and up), where the kernel never
 * hands ports to the connections other tests open, so the run stays free until the server binds it.
 */
export async function freePortRun(count: number): Promise<number> {
  const bindable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let tries = 0; tries < 100; tries++) {
    const base = 20_000 + Math.floor(Math.random() * (32_000 - 20_000 - count));
    let free = true;
    for (let port = base; free && port < base + count; port++) free = await bindable(port);
    if (free) return base;
  }
  throw new Error(`no run of ${count} free ports between 20000 and 32000`);
}

export async function queueLength(runtime: AppServices, name = runtime.config.queueName): Promise<number> {
  const props = await runtime.storage.queues.getQueueClient(name).getProperties();
  return props.approximateMessagesCount ?? 0;
}
