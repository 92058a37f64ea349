// One callback queue message: read the mail's record, check its callbackUrl against today's settings, POST the
// signed event, and record how it went. A failed attempt goes back on the queue with a growing delay (the attempt
// count travels in the message) until MAIL_CALLBACK_MAX_ATTEMPTS; then it is given up, logged as an error and
// recorded, so GET /api/mail/{id} shows it. Only failures of our own storage throw (the host retries those).
import type { Logger } from '../logger';
import { StatusConflictError, type CallbackState, type StatusRecord, type StatusStore, type StoredStatus } from '../status/status-store';
import { callbackUrlPolicyProblem } from '../mail/callback-url';
import { decodeCallbackMessage, isReportOutcome, type CallbackMessage, type CallbackQueue } from './callback-queue';
import { eventId, outcomeEvent, signedRequest } from './cloud-event';
import { callbackSecretsFor } from './callback-secret';
import { postCallback, type PostResult } from './post-callback';

/** Callbacks to a request's callbackUrl when its mail is sent or has failed. */
export interface CallbackConfig {
  /** MAIL_CALLBACK_HOSTS; empty: callbacks are refused. */
  hosts: string[];
  /**
   * The master secrets (whsec_…) each caller's signing secret is derived from: one, or two while rotating; never
   * logged. Set whenever hosts are.
   */
  secrets: string[];
  queueName: string;
  maxAttempts: number;
  /** Development only: hosts that may resolve to private or loopback addresses. */
  privateHosts: string[];
}

export const CALLBACK_TIMEOUT_MS = 10_000;

export interface CallbackAttemptDeps {
  config: CallbackConfig;
  /** The events' source attribute. */
  source: string;
  status: Pick<StatusStore, 'get' | 'update'>;
  queue: Pick<CallbackQueue, 'retry'>;
  /** Delay before attempt n + 1 after attempt n failed. */
  backoffMs: (attempt: number) => number;
  timeoutMs?: number;
  log: Logger;
  now?: () => number;
}

/** 30 s, 1 min, 2 min, … doubling up to an hour apart, with up to 10 % jitter so retries of many mails spread. */
export function callbackBackoffMs(attempt: number): number {
  const base = Math.min(60 * 60_000, 30_000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 + Math.random() * 0.1));
}

export async function attemptCallback(item: unknown, deps: CallbackAttemptDeps): Promise<void> {
  const now = deps.now ?? Date.now;
  const decoded = decodeCallbackMessage(item);
  if (!decoded.ok) {
    // Retrying cannot fix it: log once and let it go.
    deps.log.error(`Callback given up: malformed callback message: ${decoded.errors.map((e) => `${e.field}: ${e.detail}`).join('; ')}`);
    return;
  }
  const { message } = decoded;
  const stored = await deps.status.get(message.id);
  const url = stored?.record.callbackUrl;
  if (!stored || !url || !tells(stored.record, message)) {
    deps.log.error(`Callback given up: message ${message.id}: no ${message.outcome} record with a callbackUrl`);
    return;
  }
  const event = eventId(message);
  const { callback } = stored.record;
  // A state without an event is of a record written before report events: it was for the sent or failed event.
  const forThisEvent = callback?.event === undefined ? !isReportOutcome(message.outcome) : callback.event === event;
  if (callback?.state === 'delivered' && forThisEvent) {
    deps.log.log(`Callback for message ${message.id} was delivered already; not posting it again.`);
    return;
  }
  // The settings may have changed since intake: the allow-list holds at every attempt.
  const policy = callbackUrlPolicyProblem(url, deps.config.hosts);
  const result: PostResult = policy
    ? { ok: false, category: 'url-not-allowed', detail: `callbackUrl refused: ${policy}`, final: true }
    : deps.config.secrets.length === 0
      ? { ok: false, category: 'not-configured', detail: 'MAIL_CALLBACK_SECRET is not set', final: true }
      : await post(url, stored, message, deps, now());
  const at = new Date(now()).toISOString();
  if (result.ok) {
    await record(deps, stored, { state: 'delivered', attempts: message.attempt, lastAttemptAt: at, event }, now);
    deps.log.log(
      `Callback delivered: message ${message.id} (${message.outcome}) after ${message.attempt} attempt(s), HTTP ${result.status}`,
    );
    return;
  }
  // The caller sees the category; the detail (addresses, ports, resolver words) is the operator's, in the log.
  const lastError = result.category;
  const reason = `${lastError} (${result.detail.slice(0, 500)})`;
  if (result.final || message.attempt >= deps.config.maxAttempts) {
    await record(deps, stored, { state: 'failed', attempts: message.attempt, lastError, lastAttemptAt: at, event }, now);
    deps.log.error(`Callback given up: message ${message.id} (${message.outcome}) after ${message.attempt} attempt(s): ${reason}`);
    return;
  }
  const delayMs = deps.backoffMs(message.attempt);
  // Queue first, record second: a crash in between leaves the retry, which records again.
  await deps.queue.retry(message, delayMs);
  await record(deps, stored, { state: 'pending', attempts: message.attempt, lastError, lastAttemptAt: at, event }, now);
  deps.log.warn(
    `Callback attempt ${message.attempt} of ${deps.config.maxAttempts} failed for message ${message.id}: ${reason}; retrying in ${Math.round(delayMs / 1000)} s`,
  );
}

/** Whether the record still says what the message tells: its final state, or a recipient outcome of that kind. */
function tells(record: StatusRecord, message: CallbackMessage): boolean {
  if (!isReportOutcome(message.outcome)) return record.status === message.outcome;
  return (record.recipientOutcomes ?? []).some((o) => o.outcome === message.outcome);
}

function post(url: string, stored: StoredStatus, message: CallbackMessage, deps: CallbackAttemptDeps, nowMs: number): Promise<PostResult> {
  const event = outcomeEvent(stored.record, message, deps.source);
  // Signed for the caller that sent the mail: another caller's secret does not verify it.
  const { body, headers } = signedRequest(event, callbackSecretsFor(deps.config.secrets, stored.record.caller), nowMs);
  return postCallback(url, body, headers, { timeoutMs: deps.timeoutMs ?? CALLBACK_TIMEOUT_MS, privateHosts: deps.config.privateHosts });
}

/** The record is final, so only another copy of this callback races us: then its latest version takes the change. */
async function record(deps: CallbackAttemptDeps, stored: StoredStatus, callback: CallbackState, now: () => number): Promise<void> {
  try {
    await deps.status.update(stored, { callback }, new Date(now()));
  } catch (error) {
    if (!(error instanceof StatusConflictError)) throw error;
    const latest = await deps.status.get(stored.record.id);
    const sameEventDelivered = latest?.record.callback?.state === 'delivered' && latest.record.callback.event === callback.event;
    if (latest && !sameEventDelivered) await deps.status.update(latest, { callback }, new Date(now()));
  }
}
