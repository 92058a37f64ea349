// Turns a mail request into an envelope on the outbox, or into a problem naming every bad field. Two ways in: the
// bytes and headers of POST /api/mail (acceptMail parses them once), or a request already parsed, such as a mail a
// hook rendered (acceptMailRequest); both validate it the same way. Knows nothing of the Functions host.
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { addressSchema, parseMailRequest, type MailRequest } from '../mail/mail-request';
import type { FieldError } from '../validation/field-errors';
import { maxRequestBytes, messageBytes } from '../mail/message-size';
import { readJsonBody } from './parse-json-body';
import { IDEMPOTENCY_KEY_ERROR, isIdempotencyKey, isJsonContentType, mediaTypeOf } from '../http/request-headers';
import { principalOf, type AuthenticatedCaller } from '../callers/authenticate';
import { applySenderPolicy, senderFieldProblems, type GlobalSenders } from '../callers/sender-policy';
import type { DailyQuota } from '../callers/daily-quota';
import { envelopeIdentity, mailFingerprint } from '../mail/canonical';
import { newEnvelope } from '../mail/envelope';
import { recipientsOf, senderOf } from '../mail/addresses';
import { claimCheckBlob, queuedEnvelope, type Outbox } from '../mail/outbox';
import { StatusConflictError, type StatusRecord, type StatusStore, type StoredStatus } from '../status/status-store';
import * as transition from '../status/transitions';

export interface IntakeInput {
  contentType: string | null;
  body: Buffer;
  idempotencyKey?: string | null;
  caller: AuthenticatedCaller;
}

/** A request already parsed from JSON (or built as JSON would give it): validated here like any other. */
export interface MailRequestInput {
  request: unknown;
  /** An Idempotency-Key, checked by its source (isIdempotencyKey): the HTTP header, or one a hook derived. */
  idempotencyKey?: string;
  caller: AuthenticatedCaller;
}

export type IntakeResult =
  | { status: 202; record: StatusRecord; repeated: boolean }
  | { status: 400 | 403 | 413 | 415 | 422 | 429; title: string; detail: string; errors?: FieldError[]; retryAfterSeconds?: number };

export interface IntakeDeps {
  /** The senders and callback hosts the operator allows (a callbackUrl is refused without hosts), and the size limit. */
  config: { maxMessageBytes: number } & GlobalSenders;
  outbox: Pick<Outbox, 'enqueue'>;
  status: Pick<StatusStore, 'create' | 'get' | 'update' | 'messageIdKey'>;
  quota?: DailyQuota;
  now?: () => Date;
}

export { maxRequestBytes };

export async function acceptMail(input: IntakeInput, deps: IntakeDeps): Promise<IntakeResult> {
  if (!isJsonContentType(input.contentType)) {
    return {
      status: 415,
      title: 'Unsupported media type',
      detail: `Send the mail request as application/json (got ${mediaTypeOf(input.contentType) || 'no Content-Type'}).`,
    };
  }
  const limit = maxRequestBytes(deps.config.maxMessageBytes);
  if (input.body.length > limit) {
    return { status: 413, title: 'Request too large', detail: `The body is ${input.body.length} bytes; the limit is ${limit}.` };
  }
  const key = input.idempotencyKey ?? undefined;
  if (key !== undefined && !isIdempotencyKey(key)) return invalid([IDEMPOTENCY_KEY_ERROR]);
  const read = readJsonBody(input.body);
  if (!read.ok) return 'duplicate' in read ? invalid([read.duplicate]) : read.invalid;
  return acceptMailRequest({ request: read.json, idempotencyKey: key, caller: input.caller }, deps);
}

export async function acceptMailRequest(input: MailRequestInput, deps: IntakeDeps): Promise<IntakeResult> {
  const { request: json, idempotencyKey: key } = input;
  const parsed = parseMailRequest(json);
  if (!parsed.ok) return invalid([...parsed.errors, ...policyProblems(json, parsed.errors, input.caller, deps.config)]);

  const decision = applySenderPolicy(parsed.value, input.caller, deps.config);
  if (!decision.ok) return decision;
  const { mail } = decision;

  const size = messageBytes(mail);
  if (size > deps.config.maxMessageBytes) {
    return {
      status: 413,
      title: 'Message too large',
      detail: `Subject, headers, bodies and attachments come to ${size} bytes; the limit is ${deps.config.maxMessageBytes}.`,
    };
  }
  const now = deps.now?.() ?? new Date();
  const caller = principalOf(input.caller);
  const id = key ? keyedMessageId(await deps.status.messageIdKey(), caller, key) : randomUUID();
  const quota = deps.quota ? await deps.quota.take(input.caller.caller, caller, now) : undefined;
  // A repeat of an accepted request sends nothing new, so a used-up quota does not refuse it.
  if (quota && !quota.ok && !(key && (await deps.status.get(id)))) {
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    return {
      status: 429,
      title: 'Daily quota used up',
      detail: `${caller} has sent ${quota.used} of its ${quota.limit} messages today (UTC); the quota renews at midnight UTC.`,
      retryAfterSeconds: Math.ceil((midnight - now.getTime()) / 1000),
    };
  }
  const taken = quota?.ok ? quota : undefined;
  try {
    const result = await enqueueOnce(mail, id, key, caller, deps, now);
    // A repeat or a refusal sends nothing new: give the quota back.
    if (taken && (result.status !== 202 || result.repeated)) await taken.refund();
    return result;
  } catch (error) {
    if (taken) await taken.refund().catch(() => undefined);
    throw error;
  }
}

/**
 * With an Idempotency-Key the id is derived from the key, so the status record itself says whether a request was
 * seen. Keys are their principal's own: two callers (or two applications of one entraRole entry) using the same key
 * get two messages. Keyed with a server secret, so nobody can compute another's id from a guessable key.
 */
export function keyedMessageId(idKey: Buffer, principal: string, key: string): string {
  return `k-${createHmac('sha256', idKey).update(`${principal}\n${key}`).digest('hex').slice(0, 40)}`;
}

/**
 * Records the message, then queues it: same request → same id, nothing sent twice. With an Idempotency-Key a repeat
 * must tell a queued message from one whose enqueue failed after its record was written, so enqueuedAt is written
 * once the queue has it. Without a key the id is new and no repeat can ask: the record says queued from the start,
 * one write less, and a failed enqueue closes it.
 */
async function enqueueOnce(
  mail: MailRequest,
  id: string,
  key: string | undefined,
  caller: string,
  deps: IntakeDeps,
  now: Date,
): Promise<IntakeResult> {
  const requestHash = mailFingerprint(mail);
  const envelope = newEnvelope(mail, id, now);
  // Decided once: the record names the blob from the start, and the outbox writes exactly that.
  const payloadBlob = claimCheckBlob({ ...envelope, mail });
  let stored: StoredStatus;
  try {
    stored = await deps.status.create({
      id,
      status: 'queued',
      attempts: 0,
      createdAt: envelope.createdAt,
      updatedAt: envelope.createdAt,
      sender: senderOf(mail),
      recipientCount: recipientsOf(mail).length,
      sendAt: mail.sendAt,
      requestHash,
      envelopeHash: envelopeIdentity(queuedEnvelope({ ...envelope, mail }, payloadBlob)),
      caller,
      callbackUrl: mail.callbackUrl,
      payloadBlob,
      ...(key ? { idempotencyKeyHash: sha256(key) } : { enqueuedAt: envelope.createdAt }),
    });
  } catch (error) {
    if (!(error instanceof StatusConflictError)) throw error;
    const existing = (await deps.status.get(id))!;
    if (existing.record.requestHash !== requestHash) {
      return {
        status: 422,
        title: 'Idempotency key reused',
        detail: 'This Idempotency-Key was used for a different request; use a new key for a new mail.',
        errors: [{ field: 'Idempotency-Key', detail: 'already used for a different request' }],
      };
    }
    // Queued before: answer as before. Not confirmed queued (a failure between record and queue): queue it now;
    // the worker's status check makes a second copy harmless.
    if (existing.record.enqueuedAt) return { status: 202, record: existing.record, repeated: true };
    stored = existing;
    envelope.createdAt = existing.record.createdAt;
  }
  const delayMs = mail.sendAt ? Date.parse(mail.sendAt) - now.getTime() : 0;
  try {
    await deps.outbox.enqueue({ ...envelope, mail }, { delayMs }, payloadBlob);
  } catch (error) {
    // Without a key the caller cannot come back for this id: close its record with the reason.
    if (!key) await deps.status.update(stored, transition.enqueueFailed()).catch(() => undefined);
    throw error;
  }
  if (!key) return { status: 202, record: stored.record, repeated: false };
  try {
    stored = await deps.status.update(stored, { enqueuedAt: now.toISOString() }, now);
  } catch (error) {
    // The worker got there first; the message is on its way either way.
    if (!(error instanceof StatusConflictError)) throw error;
  }
  return { status: 202, record: stored.record, repeated: false };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The sender policy's field checks for a request the schema refused, on its sender and callback URL where those are
 * valid in themselves: one 400 lists every bad field, a sender nobody may use among them.
 */
function policyProblems(
  json: unknown,
  errors: readonly FieldError[],
  { caller }: AuthenticatedCaller,
  senders: GlobalSenders,
): FieldError[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return [];
  const { from, callbackUrl } = json as Record<string, unknown>;
  const named = (field: string) =>
    errors.some((e) => e.field === field || e.field.startsWith(`${field}.`) || e.field.startsWith(`${field}[`));
  const fields = { from: addressSchema.safeParse(from).data, callbackUrl: typeof callbackUrl === 'string' ? callbackUrl : undefined };
  return senderFieldProblems(fields, caller, senders).filter((problem) => !named(problem.field));
}

function invalid(errors: FieldError[]): IntakeResult {
  return { status: 400, title: 'Invalid mail request', detail: `${errors.length} field(s) are invalid.`, errors };
}
