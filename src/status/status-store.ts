// One record per message in Table storage: what happened to it and why. Never the body.
import { randomBytes } from 'node:crypto';
import type { TableClient, TableEntityResult } from '@azure/data-tables';
import type { MailState } from './mail-state';

export interface StatusRecord {
  id: string;
  status: MailState;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  sender: string;
  recipientCount: number;
  enqueuedAt?: string;
  sendAt?: string;
  nextAttemptAt?: string;
  /** While "deferred" for the mailbox's pace: the turn the message holds (its nextAttemptAt), not asked for again. */
  turnAt?: string;
  /** While "sending": the claim of one worker, so a redelivered copy does not send in parallel. */
  claimUntil?: string;
  lastReplyCode?: number;
  lastReplyText?: string;
  smtpMessageId?: string;
  accepted?: string[];
  rejected?: string[];
  errorCategory?: string;
  hint?: string;
  idempotencyKeyHash?: string;
  requestHash?: string;
  /** The identity of the queue message this record is for (envelopeIdentity): no other message may act on it. */
  envelopeHash?: string;
  /** The caller (MAIL_CALLERS name, or function-key) that submitted it; producers writing the queue have none. */
  caller?: string;
  /** The sender profile (tenant, credential, SMTP endpoint) it was sent through. */
  profile?: string;
  payloadBlob?: string;
  /** Where the outcome is POSTed when the message is sent or has failed (the request's callbackUrl). */
  callbackUrl?: string;
  /** How that callback went, once it was tried. */
  callback?: CallbackState;
  /** What delivery reports said after the send, per recipient (bounced or delayed). */
  recipientOutcomes?: RecipientOutcome[];
  /** The Message-IDs of the delivery reports recorded, so a report read twice is recorded once. */
  reportIds?: string[];
}

/** What a delivery report (RFC 3464) said of one recipient after the message was sent. */
export interface RecipientOutcome {
  recipient: string;
  outcome: 'bounced' | 'delayed';
  /** Enhanced status code, such as 5.1.1. */
  status: string;
  diagnosticCode?: string;
  remoteMta?: string;
  reportedAt: string;
}

/** Why a callback attempt failed, as callers see it; the words of the error itself go to the operator's log. */
export const CALLBACK_FAILURES = ['url-not-allowed', 'not-configured', 'refused-address', 'timeout', 'tls', 'connection-failed'] as const;
export type CallbackFailure = (typeof CALLBACK_FAILURES)[number] | `http-${number}`;

export function isCallbackFailure(value: string): value is CallbackFailure {
  return (CALLBACK_FAILURES as readonly string[]).includes(value) || /^http-\d{3}$/.test(value);
}

export interface CallbackState {
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** Why the last attempt failed: a category (http-503, timeout, refused-address, …); never an address or a body. */
  lastError?: string;
  lastAttemptAt?: string;
  /** The event this state is for (its CloudEvent id); absent on the sent or failed event of records written before. */
  event?: string;
}

export interface StoredStatus {
  record: StatusRecord;
  etag: string;
}

const ROW = 'status';
// Message ids start with a letter or digit, so this partition can never hold a status record.
const KEYS = { partitionKey: '~keys', rowKey: 'message-ids' };
/** Fields a table entity cannot hold as they are: stored as JSON text. */
const LIST_FIELDS = ['accepted', 'rejected', 'callback', 'recipientOutcomes', 'reportIds'] as const;

export class StatusConflictError extends Error {
  constructor(
    readonly id: string,
    readonly reason: 'exists' | 'changed',
  ) {
    super(reason === 'exists' ? `status ${id} already exists` : `status ${id} changed meanwhile`);
    this.name = 'StatusConflictError';
  }
}

function toEntity(record: StatusRecord) {
  const entity: Record<string, unknown> = { partitionKey: record.id, rowKey: ROW };
  for (const [key, value] of Object.entries(record)) {
    if (key === 'id' || value === undefined) continue;
    entity[key] = (LIST_FIELDS as readonly string[]).includes(key) ? JSON.stringify(value) : value;
  }
  return entity as { partitionKey: string; rowKey: string };
}

function fromEntity(entity: TableEntityResult<Record<string, unknown>>): StoredStatus {
  const { partitionKey, rowKey: _row, etag, timestamp: _ts, ...fields } = entity;
  const record: Record<string, unknown> = { id: partitionKey };
  for (const [key, value] of Object.entries(fields)) {
    if (key.startsWith('odata.')) continue;
    record[key] = (LIST_FIELDS as readonly string[]).includes(key) && typeof value === 'string' ? JSON.parse(value) : value;
  }
  return { record: record as unknown as StatusRecord, etag: etag };
}

/** True when every changed field already has that value (a field set to undefined: already absent). */
export function changesNothing(record: StatusRecord, changes: Partial<StatusRecord>): boolean {
  return Object.entries(changes).every(([key, value]) => JSON.stringify(record[key as keyof StatusRecord]) === JSON.stringify(value));
}

const statusCode = (error: unknown) => (error as { statusCode?: number }).statusCode;

export function createStatusStore(table: TableClient) {
  let idKey: Promise<Buffer> | undefined;
  /** Made once per table by whichever instance comes first; a second one finds it there (409) and reads it. */
  const readOrCreateIdKey = async (): Promise<Buffer> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const entity = await table.getEntity<{ key: string }>(KEYS.partitionKey, KEYS.rowKey);
        return Buffer.from(entity.key, 'base64');
      } catch (error) {
        if (statusCode(error) !== 404) throw error;
      }
      try {
        const key = randomBytes(32);
        await table.createEntity({ ...KEYS, key: key.toString('base64') });
        return key;
      } catch (error) {
        if (statusCode(error) !== 409) throw error;
      }
    }
    throw new Error('the message id key could not be read or made');
  };
  return {
    table,
    /**
     * The secret that keyed message ids are derived with (a random key kept in the status table, where the records
     * it names live): read once per process, made on first use.
     */
    messageIdKey(): Promise<Buffer> {
      idKey ??= readOrCreateIdKey().catch((error: unknown) => {
        idKey = undefined;
        throw error;
      });
      return idKey;
    },
    async create(record: StatusRecord): Promise<StoredStatus> {
      try {
        const response = await table.createEntity(toEntity(record));
        return { record, etag: response.etag! };
      } catch (error) {
        if (statusCode(error) === 409) throw new StatusConflictError(record.id, 'exists');
        throw error;
      }
    },

    async get(id: string): Promise<StoredStatus | undefined> {
      try {
        return fromEntity(await table.getEntity(id, ROW));
      } catch (error) {
        if (statusCode(error) === 404) return undefined;
        throw error;
      }
    },

    /**
     * Replaces the record if nobody changed it since it was read (etag). Fields set to undefined are removed.
     * Changes that change nothing write nothing: the record stays as it is, updatedAt included.
     */
    async update(current: StoredStatus, changes: Partial<StatusRecord>, now = new Date()): Promise<StoredStatus> {
      if (changesNothing(current.record, changes)) return current;
      const record = { ...current.record, ...changes, id: current.record.id, updatedAt: now.toISOString() };
      try {
        const response = await table.updateEntity(toEntity(record), 'Replace', { etag: current.etag });
        return { record, etag: response.etag! };
      } catch (error) {
        if (statusCode(error) === 412 || statusCode(error) === 404) throw new StatusConflictError(record.id, 'changed');
        throw error;
      }
    },
  };
}

export type StatusStore = ReturnType<typeof createStatusStore>;
