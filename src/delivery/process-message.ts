// The worker's whole job for one queue message: find or create its status record, skip it if it is
// already final, claim it, respect the per-mailbox governor, send, and record the outcome. Anything
// that should be tried later goes back on the queue with a delay (so retries can grow and deferrals
// do not use up the host's dequeue count); only failures of our own dependencies throw.
import { isAllowedSender } from '../mail/senders';
import { checkLoadedMail, decodeEnvelope, smtpMessageId, type Envelope } from '../mail/envelope';
import { recipientsOf, senderOf } from '../mail/addresses';
import type { MailRequest } from '../mail/mail-request';
import type { Outbox } from '../storage/outbox';
import { FINAL_STATES, StatusConflictError, type StatusRecord, type StatusStore, type StoredStatus } from '../status/status-store';
import { deliver, type DeliveryDeps } from './deliver';
import type { Failure } from './classify-failure';

export interface DeliveryPolicy {
  /** SMTP attempts before a temporary failure becomes final. */
  maxAttempts: number;
  /** How long a worker's claim on a message lasts; a crashed worker's claim lapses after it. */
  claimMs: number;
  /** Delay before the next attempt after `attempts` temporary failures. */
  backoffMs(attempts: number): number;
  /** Delay after a quota reply (daily recipient limit is a rolling 24 h). */
  quotaDeferMs: number;
  /** Give up on deferrals (quota, throttling) once the message is this old. */
  maxAgeMs: number;
}

export const DEFAULT_POLICY: DeliveryPolicy = {
  maxAttempts: 8,
  claimMs: 5 * 60_000,
  // 30 s, 1 min, 2 min … capped at 30 min, with ±20 % jitter so retries of a burst spread out.
  backoffMs: (attempts) => Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 30 * 60_000) * (0.8 + Math.random() * 0.4),
  quotaDeferMs: 60 * 60_000,
  maxAgeMs: 48 * 60 * 60_000,
};

export interface WorkerDeps extends DeliveryDeps {
  allowedSenders: readonly string[];
  outbox: Outbox;
  status: StatusStore;
  policy: DeliveryPolicy;
  now?: () => number;
}

export interface QueueDelivery {
  dequeueCount: number;
  maxDequeueCount: number;
}

/** A failure of our own dependencies (storage) or a copy racing another: the host should retry. */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
}

export async function processMessage(item: unknown, delivery: QueueDelivery, deps: WorkerDeps): Promise<void> {
  const now = deps.now ?? Date.now;
  const decoded = decodeEnvelope(item);
  if (!decoded.ok) {
    // Retrying cannot fix a malformed message: log it once as a permanent failure and let it go.
    const reason = decoded.errors.map((e) => `${e.field}: ${e.detail}`).join('; ');
    deps.log.error(`Permanent failure: malformed outbox message: ${reason}`);
    await recordMalformed(item, reason, deps);
    return;
  }
  const { envelope } = decoded;
  try {
    await processEnvelope(envelope, deps, now);
  } catch (error) {
    if (delivery.dequeueCount >= delivery.maxDequeueCount) {
      // The host moves the message to the poison queue next: say so in its status.
      await markPoisoned(envelope.id, error as Error, deps, now).catch(() => undefined);
    }
    throw error;
  }
}

async function processEnvelope(envelope: Envelope, deps: WorkerDeps, now: () => number): Promise<void> {
  // A final record settles it before anything else: a late copy must not even look for a payload blob
  // that was deleted when the message was sent.
  const existing = await deps.status.get(envelope.id);
  if (existing && FINAL_STATES.includes(existing.record.status)) {
    deps.log.log(`Message ${envelope.id} is already ${existing.record.status}; not sending it again.`);
    if (envelope.mailBlob) await deps.outbox.deletePayload(envelope.mailBlob);
    return;
  }
  const mail = await resolveMail(envelope, deps);
  if ('errors' in mail) {
    const stored = existing ?? (await create(envelope, undefined, deps, now));
    await finish(stored, { status: 'failed', errorCategory: 'malformed', hint: mail.errors }, envelope, deps, now);
    deps.log.error(`Permanent failure: message ${envelope.id}: ${mail.errors}`);
    return;
  }
  let stored = existing ?? (await create(envelope, mail, deps, now));
  const { record } = stored;
  if (FINAL_STATES.includes(record.status)) return; // another copy finished it a moment ago
  const claimedUntil = record.status === 'sending' ? Date.parse(record.claimUntil ?? '') || 0 : 0;
  if (claimedUntil > now()) {
    // Another copy is being sent right now. Look again once its claim lapses (a crashed worker's claim
    // does), rather than use up this copy's retries and poison a message that may be on its way.
    await deps.outbox.requeue(envelope, { delayMs: claimedUntil - now() + 1000 });
    deps.log.log(`Message ${envelope.id} is being sent by another worker; looking again after its claim.`);
    return;
  }
  const dueAt = Math.max(Date.parse(mail.sendAt ?? '') || 0, record.status === 'deferred' ? Date.parse(record.nextAttemptAt ?? '') || 0 : 0);
  if (dueAt > now() + 1000) {
    // Scheduled, or an early copy of a deferred message: back on the queue until it is due.
    await defer(stored, envelope, dueAt - now(), {}, deps, now);
    return;
  }
  const sender = senderOf(mail);
  if (!isAllowedSender(sender, deps.allowedSenders)) {
    await finish(stored, { status: 'failed', errorCategory: 'sender-not-allowed', hint: `${sender} is not in MAIL_ALLOWED_SENDERS.` }, envelope, deps, now);
    deps.log.error(`Permanent failure: message ${envelope.id}: ${sender} is not an allowed sender.`);
    return;
  }

  stored = await claim(stored, deps, now);
  const outcome = await deliver({ id: envelope.id, createdAt: envelope.createdAt, mail }, deps);

  if (outcome.ok) {
    const { info } = outcome;
    await finish(
      stored,
      {
        status: 'sent',
        smtpMessageId: smtpMessageId(envelope.id, sender),
        accepted: info.accepted,
        rejected: info.rejected,
        ...reply(info.response),
        errorCategory: info.rejected.length > 0 ? 'some-recipients-rejected' : undefined,
        hint: undefined,
      },
      envelope,
      deps,
      now,
    );
    deps.log.log(`Sent message ${envelope.id} from ${sender} to ${info.accepted.length} recipient(s)${info.rejected.length ? `, ${info.rejected.length} rejected` : ''}: ${info.response}`);
    return;
  }
  await settleFailure(stored, envelope, outcome.failure, deps, now);
}

async function settleFailure(stored: StoredStatus, envelope: Envelope, failure: Failure, deps: WorkerDeps, now: () => number): Promise<void> {
  const { record } = stored;
  const details = { errorCategory: failure.category, hint: failure.hint, ...(failure.reply ? reply(failure.reply.text, failure.reply.code) : {}) };
  const tooOld = now() - Date.parse(envelope.createdAt) > deps.policy.maxAgeMs;
  const outOfAttempts = failure.kind === 'temporary' && record.attempts >= deps.policy.maxAttempts;

  if (failure.kind === 'permanent' || outOfAttempts || (tooOld && failure.kind !== 'temporary')) {
    const hint = outOfAttempts ? `Gave up after ${record.attempts} attempts. ${failure.hint}` : tooOld && failure.kind !== 'permanent' ? `Still deferred after ${Math.round(deps.policy.maxAgeMs / 3_600_000)} h. ${failure.hint}` : failure.hint;
    await finish(stored, { status: 'failed', ...details, hint }, envelope, deps, now);
    deps.log.error(`Permanent failure: message ${envelope.id} [${failure.category}] ${failure.reply?.text ?? ''} Hint: ${hint}`);
    return;
  }
  // Deferrals for quota and throttling give the attempt back: they say nothing about the message.
  const counts = failure.kind === 'temporary';
  const delayMs =
    failure.kind === 'quota' ? deps.policy.quotaDeferMs : failure.kind === 'throttled' ? (failure.retryAfterMs ?? 5_000) * (1 + Math.random() * 0.5) : deps.policy.backoffMs(record.attempts);
  await defer(stored, envelope, delayMs, { ...details, attempts: counts ? record.attempts : record.attempts - 1 }, deps, now);
  const level = failure.kind === 'throttled' ? 'log' : 'warn';
  deps.log[level](`Deferred message ${envelope.id} for ${Math.round(delayMs / 1000)} s [${failure.category}] ${failure.reply?.text ?? failure.hint}`);
}

function reply(text: string, code?: number): Pick<StatusRecord, 'lastReplyCode' | 'lastReplyText'> {
  return { lastReplyCode: code ?? (Number(text.slice(0, 3)) || undefined), lastReplyText: text.slice(0, 1000) };
}

async function resolveMail(envelope: Envelope, deps: WorkerDeps): Promise<MailRequest | { errors: string }> {
  if (envelope.mail) return envelope.mail;
  let loaded: unknown;
  try {
    loaded = await deps.outbox.loadMail(envelope.mailBlob!);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return { errors: `payload blob ${envelope.mailBlob} does not exist` };
    if (error instanceof SyntaxError) return { errors: `payload blob ${envelope.mailBlob} is not JSON` };
    throw error;
  }
  const checked = checkLoadedMail(loaded);
  return checked.ok ? checked.mail : { errors: checked.errors.map((e) => `${e.field}: ${e.detail}`).join('; ') };
}

/** Producers that write the queue directly create no status record; the first delivery does. */
async function create(envelope: Envelope, mail: MailRequest | undefined, deps: WorkerDeps, now: () => number): Promise<StoredStatus> {
  const at = new Date(now()).toISOString();
  try {
    return await deps.status.create({
      id: envelope.id,
      status: 'queued',
      attempts: 0,
      createdAt: envelope.createdAt,
      updatedAt: at,
      enqueuedAt: at,
      sender: mail?.from ? senderOf(mail) : '',
      recipientCount: mail ? recipientsOf(mail).length : 0,
      sendAt: mail?.sendAt,
      payloadBlob: envelope.mailBlob,
    });
  } catch (error) {
    if (error instanceof StatusConflictError) return (await deps.status.get(envelope.id))!;
    throw error;
  }
}

async function claim(stored: StoredStatus, deps: WorkerDeps, now: () => number): Promise<StoredStatus> {
  try {
    return await deps.status.update(
      stored,
      { status: 'sending', attempts: stored.record.attempts + 1, claimUntil: new Date(now() + deps.policy.claimMs).toISOString(), nextAttemptAt: undefined },
      new Date(now()),
    );
  } catch (error) {
    if (error instanceof StatusConflictError) throw new RetryLaterError(`message ${stored.record.id} was claimed by another worker`);
    throw error;
  }
}

async function finish(stored: StoredStatus, changes: Partial<StatusRecord>, envelope: Envelope, deps: WorkerDeps, now: () => number): Promise<void> {
  await updateLatest(stored, { ...changes, claimUntil: undefined, nextAttemptAt: undefined }, deps, now);
  if (envelope.mailBlob) await deps.outbox.deletePayload(envelope.mailBlob);
}

async function defer(stored: StoredStatus, envelope: Envelope, delayMs: number, changes: Partial<StatusRecord>, deps: WorkerDeps, now: () => number): Promise<void> {
  // Queue first, record second: a crash in between leaves a copy that finds the record and carries on.
  await deps.outbox.requeue(envelope, { delayMs });
  await updateLatest(stored, { ...changes, status: 'deferred', claimUntil: undefined, nextAttemptAt: new Date(now() + delayMs).toISOString() }, deps, now);
}

/** Our claim makes conflicts unlikely; if the record moved anyway, apply the change to the latest version. */
async function updateLatest(stored: StoredStatus, changes: Partial<StatusRecord>, deps: WorkerDeps, now: () => number): Promise<void> {
  try {
    await deps.status.update(stored, changes, new Date(now()));
  } catch (error) {
    if (!(error instanceof StatusConflictError)) throw error;
    const latest = await deps.status.get(stored.record.id);
    if (latest) await deps.status.update(latest, changes, new Date(now()));
  }
}

async function markPoisoned(id: string, error: Error, deps: WorkerDeps, now: () => number): Promise<void> {
  const latest = await deps.status.get(id);
  if (!latest || FINAL_STATES.includes(latest.record.status)) return;
  await deps.status.update(
    latest,
    { status: 'failed', errorCategory: 'poisoned', claimUntil: undefined, hint: `Moved to the poison queue after repeated errors: ${error.message.slice(0, 500)}` },
    new Date(now()),
  );
}

async function recordMalformed(item: unknown, reason: string, deps: WorkerDeps): Promise<void> {
  // Record it when the message names an id we know, so a caller polling that id learns why.
  const id = typeof item === 'object' && item !== null ? (item as { id?: unknown }).id : undefined;
  if (typeof id !== 'string') return;
  const latest = await deps.status.get(id).catch(() => undefined);
  if (latest && !FINAL_STATES.includes(latest.record.status)) {
    await deps.status.update(latest, { status: 'failed', errorCategory: 'malformed', hint: reason.slice(0, 1000) });
  }
}
