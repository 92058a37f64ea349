// The callback queue: one message per outcome to deliver, written by the worker when a mail is sent or has failed,
// by the delivery report reader when a report says a recipient bounced or is delayed, and again with a delay for
// each retry. The message names the mail, not the URL: the URL is read from the status
// record, which intake wrote after checking it, so a message written to the queue by anyone else cannot point a
// POST anywhere. A queue message is input like any other and is validated before use.
import { z } from 'zod';
import type { QueueClient } from '@azure/storage-queue';
import { messageIdSchema } from '../mail/envelope';
import type { FieldError } from '../validation/field-errors';
import { decodeQueueMessage, sendQueueMessage } from '../storage/queue-message';
import type { RecipientOutcome, StatusRecord } from '../status/status-store';

export const CALLBACK_MESSAGE_VERSION = 1;
export const CALLBACK_OUTCOMES = ['sent', 'failed', 'bounced', 'delayed'] as const;
export type CallbackOutcome = (typeof CALLBACK_OUTCOMES)[number];
/** Outcomes a delivery report tells after the send: a mail may have several, one per report. */
export type ReportOutcome = Extract<CallbackOutcome, 'bounced' | 'delayed'>;

export function isReportOutcome(outcome: CallbackOutcome): outcome is ReportOutcome {
  return outcome === 'bounced' || outcome === 'delayed';
}

export const callbackMessageSchema = z
  .object({
    version: z.literal(CALLBACK_MESSAGE_VERSION),
    id: messageIdSchema,
    outcome: z.enum(CALLBACK_OUTCOMES),
    /** When the mail reached the outcome: the event's time, the same on every attempt. */
    occurredAt: z.iso.datetime({ offset: true }),
    /** 1 for the first delivery attempt. */
    attempt: z.number().int().min(1).max(1000),
  })
  .strict();

export type CallbackMessage = z.infer<typeof callbackMessageSchema>;

export function decodeCallbackMessage(item: unknown): { ok: true; message: CallbackMessage } | { ok: false; errors: FieldError[] } {
  const decoded = decodeQueueMessage(item, callbackMessageSchema, 'not JSON');
  return decoded.ok ? { ok: true, message: decoded.value } : decoded;
}

export function createCallbackQueue(queue: QueueClient) {
  const send = (message: CallbackMessage, delayMs?: number) => sendQueueMessage(queue, message, delayMs);
  return {
    /** The worker's one call when a mail with a callbackUrl reaches sent or failed. */
    async notify(record: StatusRecord): Promise<void> {
      if (!record.callbackUrl || (record.status !== 'sent' && record.status !== 'failed')) return;
      await send({ version: CALLBACK_MESSAGE_VERSION, id: record.id, outcome: record.status, occurredAt: record.updatedAt, attempt: 1 });
    },
    /**
     * The reader's call when a report added outcomes to a mail with a callbackUrl: one event per kind it added
     * (bounced, delayed), at the time the report was recorded.
     */
    async notifyReport(record: StatusRecord, added: readonly RecipientOutcome[]): Promise<void> {
      if (!record.callbackUrl) return;
      for (const outcome of ['bounced', 'delayed'] as const) {
        const first = added.find((o) => o.outcome === outcome);
        if (first) await send({ version: CALLBACK_MESSAGE_VERSION, id: record.id, outcome, occurredAt: first.reportedAt, attempt: 1 });
      }
    },
    /** The next attempt of a callback, after a delay. */
    retry: (message: CallbackMessage, delayMs: number) => send({ ...message, attempt: message.attempt + 1 }, delayMs),
  };
}

export type CallbackQueue = ReturnType<typeof createCallbackQueue>;
