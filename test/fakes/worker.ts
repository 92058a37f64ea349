// In-memory stand-ins for the worker's dependencies, for unit tests of its decisions: a status store that
// honours etags like Table storage and, like the real one, writes nothing for a change that changes nothing;
// an outbox, a token source and an SMTP sender that answer from a script, a fixed clock and a logger that
// keeps its lines.
/* eslint-disable @typescript-eslint/require-await -- the stand-ins answer at once, with the async signatures of what they replace */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type Mail from 'nodemailer/lib/mailer';
import { changesNothing, StatusConflictError, type StatusRecord, type StoredStatus } from '../../src/status/status-store';
import type { Envelope } from '../../src/mail/envelope';
import { PayloadTooLargeError } from '../../src/mail/outbox';
import type { SentInfo } from '../../src/smtp/smtp-sender';
import type { DeliveryPolicy, WorkerDeps } from '../../src/delivery/process-message';
import type { PacingAnswer } from '../../src/governor/pacing';

type Errors = { get?: Error; create?: Error; update?: Error };

/** Table storage keeps no property set to undefined; neither does this. */
const stored = (record: StatusRecord, etag: string): StoredStatus => ({ record: JSON.parse(JSON.stringify(record)) as StatusRecord, etag });

export function memoryStatusStore() {
  const rows = new Map<string, StoredStatus>();
  const idKey = randomBytes(32);
  let version = 0;
  const put = (record: StatusRecord) => {
    const row = stored(record, `W/"${++version}"`);
    rows.set(record.id, row);
    return stored(row.record, row.etag);
  };
  return {
    rows,
    /** Thrown once by the next call of that operation, as a storage outage would. */
    failNext: {} as Errors,
    /** Called before a create or update is checked: a test changes the row there, as another copy of the message would. */
    before: undefined as ((op: 'create' | 'update', id: string) => void) | undefined,
    updates: [] as Partial<StatusRecord>[],
    /** How many times a record was read, as a storage request would be. */
    reads: 0,
    /** Writes a record as someone else would: a new etag, so versions read before no longer match. */
    put,
    record: (id: string) => rows.get(id)?.record,
    messageIdKey: () => Promise.resolve(idKey),
    async get(id: string) {
      take(this.failNext, 'get');
      this.reads++;
      const row = rows.get(id);
      return row && stored(row.record, row.etag);
    },
    async create(record: StatusRecord) {
      take(this.failNext, 'create');
      this.before?.('create', record.id);
      if (rows.has(record.id)) throw new StatusConflictError(record.id, 'exists');
      return put(record);
    },
    async update(current: StoredStatus, changes: Partial<StatusRecord>, now = new Date()) {
      // Like the real store: a change that changes nothing is no request at all.
      if (changesNothing(current.record, changes)) return current;
      take(this.failNext, 'update');
      this.before?.('update', current.record.id);
      if (rows.get(current.record.id)?.etag !== current.etag) throw new StatusConflictError(current.record.id, 'changed');
      this.updates.push(changes);
      return put({ ...current.record, ...changes, id: current.record.id, updatedAt: now.toISOString() });
    },
  };
}

function take(errors: Errors, op: keyof Errors) {
  const error = errors[op];
  if (!error) return;
  delete errors[op];
  throw error;
}

export function memoryOutbox(payloads: Record<string, string> = {}) {
  const blobs = new Map(Object.entries(payloads));
  return {
    blobs,
    requeued: [] as Array<{ envelope: Envelope; delayMs: number }>,
    loaded: [] as string[],
    deleted: [] as string[],
    requeueError: undefined as Error | undefined,
    async requeue(envelope: Envelope, options?: { delayMs?: number }) {
      if (this.requeueError) throw this.requeueError;
      this.requeued.push({ envelope, delayMs: options?.delayMs ?? 0 });
    },
    /** Like the real outbox: a blob over maxBytes is refused before it is read (and not counted as loaded). */
    async loadPayload(name: string, maxBytes: number) {
      return Buffer.from(this.measured(name, maxBytes));
    },
    async openMime(name: string, maxBytes: number) {
      return Readable.from([Buffer.from(this.measured(name, maxBytes))]);
    },
    measured(name: string, maxBytes: number) {
      const text = blobs.get(name);
      if (text === undefined) throw Object.assign(new Error('The specified blob does not exist.'), { statusCode: 404 });
      if (Buffer.byteLength(text) > maxBytes) throw new PayloadTooLargeError(name, Buffer.byteLength(text), maxBytes);
      this.loaded.push(name);
      return text;
    },
    async deletePayload(name: string) {
      this.deleted.push(name);
      blobs.delete(name);
    },
  };
}

/** A reply as nodemailer reports it when the server refuses a command. */
export function smtpError(reply: string): Error {
  return Object.assign(new Error(`Message failed: ${reply}`), {
    code: 'EMESSAGE',
    response: reply,
    responseCode: Number(reply.slice(0, 3)),
  });
}

export function scriptedSmtp() {
  return {
    /** What the next sends get, in order; once empty, every recipient is accepted. */
    script: [] as Array<Partial<SentInfo> | Error>,
    sent: [] as Array<{ mailbox: string; message: Mail.Options }>,
    resets: [] as string[],
    async send(mailbox: string, message: Mail.Options): Promise<SentInfo> {
      this.sent.push({ mailbox, message });
      const next = this.script.shift() ?? {};
      if (next instanceof Error) throw next;
      const to = [message.to, message.cc, message.bcc].flat().filter(Boolean).map(String);
      return { messageId: String(message.messageId), accepted: to, rejected: [], response: '250 2.0.0 OK <queued>', ...next };
    },
    reset(mailbox: string) {
      this.resets.push(mailbox);
    },
  };
}

export function fakeTokens() {
  return {
    /** forceRefresh of each request. */
    requests: [] as boolean[],
    async getToken(options?: { forceRefresh?: boolean }) {
      this.requests.push(options?.forceRefresh ?? false);
      return { token: 'token', expiresOn: Date.now() + 3_600_000 };
    },
  };
}

export function memoryLog() {
  const lines: string[] = [];
  const keep =
    (level: string) =>
    (...args: unknown[]) =>
      void lines.push(`${level} ${args.join(' ')}`);
  return { lines, debug: keep('debug'), log: keep('log'), warn: keep('warn'), error: keep('error') };
}

export const TEST_POLICY: DeliveryPolicy = {
  maxAttempts: 3,
  claimMs: 60_000,
  backoffMs: (attempts) => attempts * 10_000,
  quotaDeferMs: 3_600_000,
  maxAgeMs: 48 * 3_600_000,
  maxTurnWaitMs: 5_000,
};

/** A mailbox pace that gives every message a turn now, unless a test queues other answers; it keeps the holds asked for. */
export function scriptedPacing(clock: { ms: number }) {
  return {
    answers: [] as PacingAnswer[],
    asked: [] as Array<{ mailbox: string; recipients: number }>,
    holds: [] as Array<{ mailbox: string; reason: string; until: number }>,
    async schedule(mailbox: string, recipients: number): Promise<PacingAnswer> {
      this.asked.push({ mailbox, recipients });
      return this.answers.shift() ?? { ok: true, at: clock.ms };
    },
    async hold(mailbox: string, reason: string, until: number) {
      this.holds.push({ mailbox, reason, until });
    },
  };
}

/** A worker's dependencies, all in memory, at a clock that only moves when a test moves it. */
/** The worlds' MAIL_MAX_MESSAGE_BYTES. */
export const FAKE_MAX_MESSAGE_BYTES = 16 * 1024;

export function fakeWorld(payloads?: Record<string, string>) {
  const clock = { ms: Date.parse('2025-03-01T10:00:00.000Z') };
  const sleeps: number[] = [];
  const world = {
    clock,
    status: memoryStatusStore(),
    outbox: memoryOutbox(payloads),
    smtp: scriptedSmtp(),
    tokens: fakeTokens(),
    log: memoryLog(),
    pacing: scriptedPacing(clock),
  };
  const deps: WorkerDeps = {
    ...world,
    allowedSenders: ['noreply@contoso.example', '@contoso.example'],
    maxMessageBytes: FAKE_MAX_MESSAGE_BYTES,
    policy: TEST_POLICY,
    now: () => clock.ms,
    // Waiting in process moves the clock, at once.
    sleep: (ms) => (sleeps.push(ms), (clock.ms += ms), Promise.resolve()),
  };
  return { ...world, sleeps, deps };
}
