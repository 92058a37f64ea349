// One queue message through the worker: find or create its status record, skip it if it is already final,
// claim it, respect the per-mailbox governor, send, and record the outcome. Made per message, so its
// envelope, its record and the clock are at hand in every step. Anything that should be tried later goes
// back on the queue with a delay (so retries can grow and deferrals do not use up the host's dequeue
// count); only failures of our own dependencies throw.
import { isAllowedSender } from '../mail/senders';
import { envelopeIdentity } from '../mail/canonical';
import { smtpMessageId, type Envelope } from '../mail/envelope';
import type { Outbox } from '../mail/outbox';
import { isFinal } from '../status/mail-state';
import { StatusConflictError, type StatusRecord, type StatusStore, type StoredStatus } from '../status/status-store';
import * as transition from '../status/transitions';
import { deliver, release, type DeliveryDeps } from './deliver';
import { decideFailure, type DeliveryPolicy } from './policy';
import { resolveMessage, UnsendableError, type ResolvedMessage, type Unsendable } from './resolve-mail';
import type Mail from 'nodemailer/lib/mailer';
import type { Failure } from './classify-failure';
import { instruments } from '../telemetry/instruments';
import type { Pacing, PacingAnswer } from '../governor/pacing';

/**
 * A message sent back to the queue until a given time comes back this much earlier (at most the turn wait) and waits
 * the rest in process: queue visibility is in whole seconds, and arriving early costs nothing, late a turn's time.
 */
export const COME_BACK_EARLY_MS = 2_000;

export interface WorkerDeps extends DeliveryDeps {
  allowedSenders: readonly string[];
  /** MAIL_MAX_MESSAGE_BYTES: a producer's message over it fails as intake would refuse it. */
  maxMessageBytes: number;
  outbox: Pick<Outbox, 'requeue' | 'loadPayload' | 'openMime' | 'deletePayload'>;
  status: Pick<StatusStore, 'get' | 'create' | 'update'>;
  policy: DeliveryPolicy;
  /** When each message may go: its turn in the mailbox's pace, or until when the mailbox or tenant is held. */
  pacing: Pacing;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** The sender profile a mailbox sends through, recorded with the message (default when absent). */
  profileOf?: (sender: string) => string;
  /** Queues the callback of a mail with a callbackUrl once it is sent or has failed. */
  callbacks?: { notify(record: StatusRecord): Promise<void> };
}

/** A failure of our own dependencies (storage) or a copy racing another: the host should retry. */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
}

export class MessageWorker {
  /** The record as this worker last read or wrote it: each write carries its etag. Set first thing in run(). */
  private stored!: StoredStatus;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly envelope: Envelope,
    private readonly now: () => number,
  ) {}

  async run(): Promise<void> {
    const { deps, envelope } = this;
    // A final record settles it before anything else: a late copy must not even look for a payload blob
    // that was deleted when the message was sent.
    const existing = await deps.status.get(envelope.id);
    if (existing && !this.owns(existing)) return this.foreign();
    if (existing && isFinal(existing.record.status)) {
      deps.log.log(`Message ${envelope.id} is already ${existing.record.status}; not sending it again.`);
      await this.deletePayload();
      // A worker that stopped between the final write and queueing the callback left no trace of a callback; this
      // copy (the host retries an unfinished invocation) queues it. The event id is stable, so a rare repeat is one.
      this.stored = existing;
      if (existing.record.callback === undefined) await this.notify();
      return;
    }
    const message = await resolveMessage(envelope, deps.outbox, deps.maxMessageBytes);
    if ('unsendable' in message) {
      const stored = existing ?? (await this.create(undefined));
      if (!this.owns(stored)) return this.foreign();
      this.stored = stored;
      await this.unsendable(message.unsendable);
      return;
    }
    const stored = existing ?? (await this.create(message));
    // Another message made a record under this id a moment ago.
    if (!this.owns(stored)) return this.foreign();
    this.stored = stored;
    // Final already: another copy finished it a moment ago.
    if (!isFinal(this.stored.record.status)) await this.send(message);
  }

  /** The host moves the message to the poison queue next: its record says so, unless it ended otherwise. */
  async poisoned(error: Error): Promise<void> {
    const { status } = this.deps;
    // The record as this worker last had it, if it got that far: its etag says whether it is still the latest.
    const known = (this.stored as StoredStatus | undefined) ?? (await status.get(this.envelope.id));
    const changes = transition.poison(error);
    try {
      if (!known || isFinal(known.record.status) || !this.owns(known)) return;
      this.stored = await status.update(known, changes, new Date(this.now()));
    } catch (conflict) {
      if (!(conflict instanceof StatusConflictError)) throw conflict;
      const latest = await status.get(this.envelope.id);
      if (!latest || isFinal(latest.record.status)) return;
      this.stored = await status.update(latest, changes, new Date(this.now()));
    }
    countOutcome(changes);
    await this.notify();
  }

  /**
   * Whether a record is this message's own: made for exactly this envelope. A message that borrows a known id (a
   * producer's mistake, or someone writing the queue) must not send in its name, fail it or close it. Records
   * written before the identity was kept have none and are taken as they are.
   */
  private owns({ record }: StoredStatus): boolean {
    return record.envelopeHash === undefined || record.envelopeHash === envelopeIdentity(this.envelope);
  }

  /** Not the message recorded under its id: dropped as malformed, the record and its payload left alone. */
  private foreign(): void {
    this.deps.log.error(
      `Permanent failure: malformed outbox message: ${this.envelope.id} is the id of another message (its record names a different envelope); dropped, that message untouched.`,
    );
    instruments().failed.add(1, { 'mail.error.category': 'malformed' });
  }

  private async send(message: ResolvedMessage): Promise<void> {
    const { deps, envelope, now } = this;
    const { record } = this.stored;
    const claimedUntil = record.status === 'sending' ? Date.parse(record.claimUntil ?? '') || 0 : 0;
    if (claimedUntil > now()) {
      // Another copy is being sent right now. Look again once its claim lapses (a crashed worker's claim
      // does), rather than use up this copy's retries and poison a message that may be on its way.
      await deps.outbox.requeue(envelope, { delayMs: claimedUntil - now() + 1000 });
      deps.log.log(`Message ${envelope.id} is being sent by another worker; looking again after its claim.`);
      return;
    }
    const dueAt = Math.max(
      Date.parse(message.sendAt ?? '') || 0,
      record.status === 'deferred' ? Date.parse(record.nextAttemptAt ?? '') || 0 : 0,
    );
    if (dueAt > now() + deps.policy.maxTurnWaitMs) {
      // Scheduled, or an early copy of a deferred message: back on the queue until it is due.
      await this.defer(dueAt);
      return;
    }
    const { sender } = message;
    if (!isAllowedSender(sender, deps.allowedSenders)) {
      await this.finish(transition.fail('sender-not-allowed', `${sender} is not in MAIL_ALLOWED_SENDERS.`));
      deps.log.error(`Permanent failure: message ${envelope.id}: ${sender} is not an allowed sender.`);
      return;
    }
    // Its turn in the mailbox's pace: the one it holds from an earlier visit, or a new one. A turn too far ahead
    // sends it back to the queue until then, once; the turn stays its own.
    let turnAt = record.status === 'deferred' ? Date.parse(record.turnAt ?? '') || undefined : undefined;
    if (turnAt === undefined) {
      const answer = await deps.pacing.schedule(sender, message.recipients.length);
      if (!answer.ok) return this.hold(answer);
      turnAt = answer.at;
      if (turnAt > now() + deps.policy.maxTurnWaitMs) {
        await this.defer(turnAt, transition.paced(turnAt));
        deps.log.debug(`Message ${envelope.id} waits for its turn at ${new Date(turnAt).toISOString()} [rate-limit].`);
        return;
      }
    }
    const wait = Math.max(dueAt, turnAt) - now();
    if (wait > 0) await (deps.sleep ?? sleep)(wait);

    let first: Mail.Options;
    try {
      first = await message.open();
    } catch (error) {
      if (!(error instanceof UnsendableError)) throw error;
      await this.unsendable(error.unsendable);
      return;
    }
    try {
      await this.claim(deps.profileOf?.(sender));
    } catch (error) {
      release(first);
      throw error;
    }
    const outcome = await deliver(
      {
        id: envelope.id,
        createdAt: envelope.createdAt,
        sender,
        recipients: message.recipients.length,
        message: first,
        reopen: message.open,
      },
      deps,
    );
    if (!outcome.ok) return this.settleFailure(outcome.failure, sender, message.recipients.length);
    const { info } = outcome;
    await this.finish(
      transition.sent({
        smtpMessageId: smtpMessageId(envelope.id, sender),
        accepted: info.accepted,
        rejected: info.rejected,
        ...transition.replyOf(info.response),
      }),
    );
    deps.log.log(
      `Sent message ${envelope.id} from ${sender} (profile ${this.stored.record.profile ?? 'default'}) to ${info.accepted.length} recipient(s)${info.rejected.length ? `, ${info.rejected.length} rejected` : ''}: ${info.response}`,
    );
  }

  private async settleFailure(failure: Failure, sender: string, recipients: number): Promise<void> {
    const { deps, envelope } = this;
    const reply = failure.reply ? transition.replyOf(failure.reply.text, failure.reply.code) : {};
    const decision = decideFailure(failure, this.stored.record.attempts, this.now() - Date.parse(envelope.createdAt), deps.policy);
    if (decision.final) {
      await this.finish(transition.fail(failure.category, decision.hint, reply));
      deps.log.error(
        `Permanent failure: message ${envelope.id} [${failure.category}] ${failure.reply?.text ?? ''} Hint: ${decision.hint} (profile ${this.stored.record.profile ?? 'default'})`,
      );
      return;
    }
    // Exchange's quota replies hold the whole mailbox (daily quota) or its tenant (external recipient limit), so the
    // messages behind this one wait without being refused one by one.
    if (failure.kind === 'quota' && (failure.category === 'daily-quota' || failure.category === 'tenant-rate-limit'))
      await deps.pacing.hold(sender, failure.category, this.now() + decision.delayMs);
    if (failure.kind === 'throttled' && failure.category === 'rate-limit') {
      // The window had no place within the wait at this message's turn (messages before it came late or sent slowly).
      // It takes the schedule's next turn, which no other message holds, rather than the moment the window frees:
      // that moment belongs to a message holding its turn, which would find its place taken in turn, and so on.
      const answer = await deps.pacing.schedule(sender, recipients);
      if (!answer.ok) return this.hold(answer);
      await this.defer(answer.at, { ...transition.paced(answer.at), attempts: decision.attempts });
      deps.log.debug(`Message ${envelope.id} waits for its turn at ${new Date(answer.at).toISOString()} [rate-limit, window].`);
      return;
    }
    const at = this.now() + decision.delayMs;
    await this.defer(
      at,
      transition.defer(at, { errorCategory: failure.category, hint: failure.hint, ...reply, attempts: decision.attempts }),
    );
    const level = failure.kind === 'throttled' ? 'log' : 'warn';
    deps.log[level](
      `Deferred message ${envelope.id} for ${Math.round(decision.delayMs / 1000)} s [${failure.category}] ${failure.reply?.text ?? failure.hint}`,
    );
  }

  /** Producers that write the queue directly create no status record; the first delivery does. */
  private async create(message: ResolvedMessage | undefined): Promise<StoredStatus> {
    const { envelope } = this;
    const at = new Date(this.now()).toISOString();
    try {
      return await this.deps.status.create({
        id: envelope.id,
        status: 'queued',
        attempts: 0,
        createdAt: envelope.createdAt,
        updatedAt: at,
        enqueuedAt: at,
        sender: message?.sender ?? '',
        recipientCount: message?.recipients.length ?? 0,
        sendAt: message?.sendAt,
        payloadBlob: envelope.mailBlob ?? envelope.mime?.blob,
        callbackUrl: message?.callbackUrl,
        envelopeHash: envelopeIdentity(envelope),
      });
    } catch (error) {
      if (error instanceof StatusConflictError) return (await this.deps.status.get(envelope.id))!;
      throw error;
    }
  }

  private async claim(profile: string | undefined): Promise<void> {
    const changes = { ...transition.claim(this.stored.record, this.now() + this.deps.policy.claimMs), ...(profile ? { profile } : {}) };
    try {
      this.stored = await this.deps.status.update(this.stored, changes, new Date(this.now()));
    } catch (error) {
      if (error instanceof StatusConflictError) throw new RetryLaterError(`message ${this.envelope.id} was claimed by another worker`);
      throw error;
    }
  }

  /** The message can never be sent as it stands: closed with the reason, never retried. */
  private async unsendable({ category, reason }: Unsendable): Promise<void> {
    await this.finish(category === 'malformed' ? transition.malformed(reason) : transition.fail(category, reason));
    this.deps.log.error(`Permanent failure: message ${this.envelope.id} [${category}]: ${reason}`);
  }

  private async finish(changes: transition.Changes): Promise<void> {
    await this.write(changes);
    await this.deletePayload();
    countOutcome(changes);
    await this.notify();
  }

  /** One queue write after the final status write; a failure is logged and leaves the mail's outcome as it is. */
  private async notify(): Promise<void> {
    const { record } = this.stored;
    if (!record.callbackUrl || !isFinal(record.status) || !this.deps.callbacks) return;
    await this.deps.callbacks
      .notify(record)
      .catch((error: Error) => this.deps.log.error(`Callback not queued for message ${record.id}: ${error.message}`));
  }

  /** Back on the queue until `atMs` (arriving a little early, to wait the rest in process); `changes` say why. */
  private async defer(atMs: number, changes: transition.Changes = transition.defer(atMs)): Promise<void> {
    // Queue first, record second: a crash in between leaves a copy that finds the record and carries on.
    const early = Math.min(COME_BACK_EARLY_MS, this.deps.policy.maxTurnWaitMs);
    await this.deps.outbox.requeue(this.envelope, { delayMs: Math.max(0, atMs - this.now() - early) });
    await this.write(changes);
    instruments().deferred.add(1, { 'mail.reason': changes.errorCategory ?? 'scheduled' });
  }

  /** Held by the governor (daily recipient limit, a quota hold, a tenant pause) until a time it names. */
  private async hold(answer: Extract<PacingAnswer, { ok: false }>): Promise<void> {
    const { deps, envelope } = this;
    const until = new Date(answer.at).toISOString();
    const hint = HOLD_HINTS[answer.reason](until);
    if (this.now() - Date.parse(envelope.createdAt) > deps.policy.maxAgeMs) {
      await this.finish(transition.fail(answer.reason, `Still held after ${Math.round(deps.policy.maxAgeMs / 3_600_000)} h. ${hint}`));
      deps.log.error(`Permanent failure: message ${envelope.id} [${answer.reason}] held too long.`);
      return;
    }
    await this.defer(answer.at, transition.held(answer.at, answer.reason, hint));
    deps.log.log(`Held message ${envelope.id} until ${until} [${answer.reason}].`);
  }

  /** Our claim makes conflicts unlikely; if the record moved anyway, the change applies to the latest version. */
  private async write(changes: transition.Changes): Promise<void> {
    const { status } = this.deps;
    try {
      this.stored = await status.update(this.stored, changes, new Date(this.now()));
    } catch (error) {
      if (!(error instanceof StatusConflictError)) throw error;
      const latest = await status.get(this.envelope.id);
      if (!latest) return;
      // Nothing changes a final record: another copy finished the message meanwhile, and its outcome stands.
      this.stored = isFinal(latest.record.status) ? latest : await status.update(latest, changes, new Date(this.now()));
    }
  }

  private async deletePayload(): Promise<void> {
    const blob = this.envelope.mailBlob ?? this.envelope.mime?.blob;
    if (blob) await this.deps.outbox.deletePayload(blob);
  }
}

const HOLD_HINTS: Record<Extract<PacingAnswer, { ok: false }>['reason'], (until: string) => string> = {
  'rate-limit': (until) => `Waiting for the mailbox's messages-per-minute window; sends at ${until}.`,
  'daily-recipient-limit': (until) =>
    `Held: the mailbox reached its daily recipient limit (MAIL_MAX_RECIPIENTS_PER_DAY in any 24 h); sends at ${until}.`,
  'daily-quota': (until) => `Held: Exchange refused the mailbox's messages for its daily quota; tries again at ${until}.`,
  'tenant-rate-limit': (until) => `Held: the tenant reached its external recipient rate limit; every mailbox of it pauses until ${until}.`,
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Outcome metrics: one count per final state, failures by category (never an address). */
function countOutcome(changes: transition.Changes): void {
  if (changes.status === 'sent') instruments().sent.add(1);
  else if (changes.status === 'failed') instruments().failed.add(1, { 'mail.error.category': changes.errorCategory ?? 'unknown' });
}
