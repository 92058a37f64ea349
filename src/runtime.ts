// Composition root: builds the long-lived pieces once per process from the checked configuration.
// The function registrations, the local host and the tests all get their dependencies from here.
import { loadConfig, type MailConfig } from './config';
import { createTokenSource, type TokenSource } from './identity/token-source';
import { SmtpSender } from './smtp/smtp-sender';
import { createStorageClients, type StorageClients } from './storage/clients';
import { createOutbox, type Outbox } from './storage/outbox';
import { readQueueHostSettings, type QueueHostSettings } from './host-settings';

export interface Runtime {
  config: MailConfig;
  host: QueueHostSettings;
  storage: StorageClients;
  outbox: Outbox;
  tokens: TokenSource;
  smtp: SmtpSender;
  close(): void;
}

export function createRuntime(config: MailConfig, host: QueueHostSettings = readQueueHostSettings()): Runtime {
  const storage = createStorageClients(config.storage);
  const tokens = createTokenSource(config.auth);
  const smtp = new SmtpSender(config.smtp, tokens);
  return {
    config,
    host,
    storage,
    outbox: createOutbox(storage.queues.getQueueClient(config.queueName)),
    tokens,
    smtp,
    close: () => smtp.close(),
  };
}

let shared: Runtime | undefined;

/** The process-wide runtime under the Functions host, built on first use from app settings. */
export function sharedRuntime(): Runtime {
  shared ??= createRuntime(loadConfig(process.env));
  return shared;
}
