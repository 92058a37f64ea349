// The app's services: the long-lived pieces (storage, status, senders, governor, callers, callbacks, hooks) built from
// the checked configuration, once per process under the Functions host (processServices), once per local host or test.
// Each handler takes the part of them it uses.
import { defaultProfile, loadConfig, type MailConfig } from '../config/load-config';
import { createTokenSource, type TokenSource } from '../identity/token-source';
import { SmtpSender, type LaneTiming } from '../smtp/smtp-sender';
import { routeByProfile, type ProfileRouting, type ProfileSmtp } from '../profiles/profile-senders';
import { createStorageClients, type StorageClients } from '../storage/clients';
import { createOutbox, type Outbox } from '../mail/outbox';
import { createStatusStore, type StatusStore } from '../status/status-store';
import { createConnectionSlots } from '../governor/connection-slots';
import { createRateLimiter } from '../governor/rate-limiter';
import { createTenantPause } from '../governor/tenant-pause';
import { createPacing } from '../governor/pacing';
import { DEFAULT_POLICY, type DeliveryPolicy, type WorkerDeps } from '../delivery/process-message';
import { readQueueHostSettings, type QueueHostSettings } from '../config/host-json';
import { createAuthenticator, type Authentication, type CredentialSource } from '../callers/authenticate';
import { createEntraTokenVerifier } from '../callers/entra-token';
import { functionKeyCaller } from '../callers/sender-policy';
import { createDailyQuota, type DailyQuota } from '../callers/daily-quota';
import { createCallbackQueue, type CallbackQueue } from '../callbacks/callback-queue';
import { callbackBackoffMs, type CallbackAttemptDeps } from '../callbacks/callback-attempt';
import { eventSource } from '../callbacks/cloud-event';
import { createSuppressionList, type SuppressionList } from '../suppression/suppression-list';
import type { HookStores } from '../hooks/hook-stores';

export interface AppServices {
  config: MailConfig;
  /** The app settings the configuration was read from: what the doctor checks. */
  settings: Record<string, string | undefined>;
  host: QueueHostSettings;
  storage: StorageClients;
  outbox: Outbox;
  status: StatusStore;
  /** Routed by the sending mailbox to its sender profile's token source and SMTP sender. */
  tokens: TokenSource;
  smtp: ProfileSmtp;
  profiles: ProfileRouting;
  worker: Omit<WorkerDeps, 'log'>;
  /** The callback queue and what its trigger needs to deliver callbacks. */
  callbacks: Omit<CallbackAttemptDeps, 'log'> & { queue: CallbackQueue };
  /** Who is calling: from MAIL_CALLERS, or the function-key caller when the host checks function keys. */
  authenticate(request: CredentialSource): Promise<Authentication>;
  quota: DailyQuota;
  /** Addresses that bounced hard, per sender profile (in the status table). */
  suppressions: SuppressionList;
  /** The hooks' template store and replay record, imported and built at the first hook request. */
  hookStores(): Promise<HookStores>;
  close(): Promise<void>;
}

/** Knobs for tests and the soak run; production uses the defaults. */
export interface AppServicesOptions {
  /** The app settings `config` was read from (default: the environment, as under the Functions host). */
  settings?: Record<string, string | undefined>;
  host?: QueueHostSettings;
  policy?: Partial<DeliveryPolicy>;
  lanes?: LaneTiming;
  leaseSeconds?: number;
  /** The rate limiter's window and assumed send time, shorter than Exchange's minute to run tests and the soak faster. */
  pace?: { windowMs?: number; assumedSendMs?: number };
  /** Delay before callback attempt n + 1 (default: 30 s doubling up to an hour). */
  callbackBackoffMs?: (attempt: number) => number;
  callbackTimeoutMs?: number;
}

export function createAppServices(config: MailConfig, options: AppServicesOptions = {}): AppServices {
  const storage = createStorageClients(config.storage);
  const policy: DeliveryPolicy = { ...DEFAULT_POLICY, ...options.policy };
  const governor = storage.blobs.getContainerClient(config.governorContainer);
  // Each profile has its own limits; leases and rate state are per mailbox in the one governor container.
  const profiles = routeByProfile(defaultProfile(config), config.senderProfiles, {
    createTokenSource,
    createSending: (profile, tokens) => {
      const slots = createConnectionSlots({
        container: governor,
        slotsPerMailbox: profile.smtp.maxConnectionsPerMailbox,
        leaseSeconds: options.leaseSeconds,
      });
      const rate = createRateLimiter({
        container: governor,
        maxPerMinute: profile.maxMessagesPerMinute,
        maxRecipientsPerDay: profile.maxRecipientsPerDay,
        maxWaitMs: policy.maxTurnWaitMs,
        ...options.pace,
      });
      return {
        smtp: new SmtpSender(profile.smtp, tokens, slots, rate, options.lanes),
        pacing: createPacing(rate, createTenantPause({ container: governor, tenant: profile.name })),
      };
    },
  });
  const { tokens, smtp } = profiles;
  const outbox = createOutbox(storage.queues.getQueueClient(config.queueName), storage.blobs.getContainerClient(config.payloadContainer));
  const status = createStatusStore(storage.table(config.statusTable));
  const callbackQueue = createCallbackQueue(storage.queues.getQueueClient(config.callbacks.queueName));
  const keyHolder = functionKeyCaller(config);
  const authenticate = config.callers
    ? createAuthenticator(config.callers, config.api ? createEntraTokenVerifier(config.api) : undefined)
    : (): Promise<Authentication> => Promise.resolve({ ok: true, value: keyHolder });
  let hookStores: Promise<HookStores> | undefined;
  return {
    config,
    settings: options.settings ?? process.env,
    host: options.host ?? readQueueHostSettings(),
    storage,
    outbox,
    status,
    tokens,
    smtp,
    profiles,
    worker: {
      allowedSenders: config.allowedSenders,
      maxMessageBytes: config.maxMessageBytes,
      outbox,
      status,
      tokens,
      smtp,
      pacing: profiles.pacing,
      profileOf: profiles.profileOf,
      policy,
      callbacks: callbackQueue,
    },
    callbacks: {
      config: config.callbacks,
      source: eventSource(config.publicBaseUrl),
      status,
      queue: callbackQueue,
      backoffMs: options.callbackBackoffMs ?? callbackBackoffMs,
      timeoutMs: options.callbackTimeoutMs,
    },
    authenticate,
    quota: createDailyQuota(storage.table(config.statusTable)),
    suppressions: createSuppressionList(storage.table(config.statusTable)),
    hookStores: () =>
      (hookStores ??= import('../hooks/hook-stores.js')
        .then(({ createHookStores }) => createHookStores(config, storage))
        .catch((error: unknown) => {
          // A failed import is tried again at the next hook request rather than remembered.
          hookStores = undefined;
          throw error;
        })),
    close: () => smtp.close(),
  };
}

let ofProcess: AppServices | undefined;

/** The services of this process under the Functions host, built on first use from the app settings. */
export function processServices(): AppServices {
  ofProcess ??= createAppServices(loadConfig(process.env));
  return ofProcess;
}
