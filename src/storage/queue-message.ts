// A queue message as the Functions queue trigger reads it: base64-encoded JSON, at most 64 KB after encoding, hidden
// for at most 7 days. What the host hands over is parsed JSON when it is JSON, a string (or bytes) otherwise. Queue
// messages are input like any other: reserved keys and nesting are checked first, then the message's schema, and
// every error names its field.
import type { z } from 'zod';
import type { QueueClient } from '@azure/storage-queue';
import { requiredMembers, toFieldErrors, type FieldHints, type Validation } from '../validation/field-errors';
import { structureProblems } from '../validation/json-structure';

export const MAX_QUEUE_MESSAGE_BYTES = 64 * 1024;
/** Azure Storage queues hide a message for at most 7 days. */
export const MAX_VISIBILITY_DELAY_MS = 7 * 24 * 60 * 60 * 1000;

export function encodeQueueMessage(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

export const fitsQueueMessage = (value: unknown) => Math.ceil(Buffer.byteLength(JSON.stringify(value)) / 3) * 4 <= MAX_QUEUE_MESSAGE_BYTES;

/** Puts a message on a queue, invisible for delayMs (scheduled sends, deferrals, backoff; capped at the queue's limit). */
export async function sendQueueMessage(queue: QueueClient, value: unknown, delayMs = 0): Promise<void> {
  const delay = Math.min(Math.max(0, delayMs), MAX_VISIBILITY_DELAY_MS - 1000);
  await queue.sendMessage(encodeQueueMessage(value), {
    visibilityTimeout: delay > 0 ? Math.ceil(delay / 1000) : undefined,
    messageTimeToLive: -1, // a deferred message must not expire in the queue
  });
}

export function decodeQueueMessage<T>(item: unknown, schema: z.ZodType<T>, notJson: string, hints?: FieldHints): Validation<T> {
  let value = item;
  if (Buffer.isBuffer(value)) value = value.toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return { ok: false, errors: [{ field: '(message)', detail: notJson }] };
    }
  }
  const reserved = structureProblems(value);
  if (reserved.length > 0) return { ok: false, errors: reserved };
  const result = schema.safeParse(value, { error: requiredMembers });
  return result.success ? { ok: true, value: result.data } : { ok: false, errors: toFieldErrors(result.error, hints) };
}
