// A typed helper for Node producers that write the outbox queue directly (instead of POST /api/mail): it checks the
// mail against the same schema the worker applies, and writes the envelope exactly as the queue trigger reads it —
// base64-encoded JSON; a message that would be over 64 KB is composed and stored as a blob "<id>.eml" that the
// worker streams to the SMTP connection.
//
//   const producer = createMailProducer({ queue, payloads });   // QueueClient, ContainerClient (@azure/storage-*)
//   const { id } = await producer.send({ from: 'orders@contoso.com', to: 'ann@example.com', subject: 'Hi', text: '…' });
import { randomUUID } from 'node:crypto';
import type { QueueClient } from '@azure/storage-queue';
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import { envelopeSchema, messageIdSchema, newEnvelope } from '../mail/envelope';
import { MAIL_FIELD_HINTS, mailRequestSchema } from '../mail/mail-request';
import { toFieldErrors, type FieldError } from '../validation/field-errors';
import { structureProblems } from '../validation/json-structure';
import { createOutbox } from '../mail/outbox';

/** The mail a producer sends: the request schema's input, with `from` required (there is no caller default). */
export type ProducerMail = z.input<typeof mailRequestSchema> & { from: NonNullable<z.input<typeof mailRequestSchema>['from']> };

export interface ProducerTarget {
  /** The outbox queue (MAIL_QUEUE_NAME). */
  queue: QueueClient;
  /** The payload container (MAIL_PAYLOAD_CONTAINER), for mails too large for a queue message. */
  payloads: ContainerClient;
}

export interface SendOptions {
  /** The message id (1-100 letters, digits, dot, dash, underscore); the same id is the same mail. Default: a UUID. */
  id?: string;
}

export class InvalidMailError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(`invalid mail: ${errors.map((e) => `${e.field}: ${e.detail}`).join('; ')}`);
    this.name = 'InvalidMailError';
  }
}

export function createMailProducer(target: ProducerTarget) {
  const outbox = createOutbox(target.queue, target.payloads);
  return {
    /** Validates and queues a mail; returns its id (poll GET /api/mail/{id}) and whether it went by payload blob. */
    async send(mail: ProducerMail, options: SendOptions = {}): Promise<{ id: string; payloadBlob?: string }> {
      const id = messageIdSchema.parse(options.id ?? randomUUID());
      const reserved = structureProblems(mail);
      if (reserved.length > 0) throw new InvalidMailError(reserved);
      const parsed = mailRequestSchema.safeParse(mail);
      if (!parsed.success) throw new InvalidMailError(toFieldErrors(parsed.error, MAIL_FIELD_HINTS));
      if (!parsed.data.from) throw new InvalidMailError([{ field: 'from', detail: 'required in an envelope' }]);
      const envelope = newEnvelope(parsed.data, id);
      // The same check the worker makes on arrival: what is written here is never refused as malformed there.
      const checked = envelopeSchema.safeParse(envelope);
      if (!checked.success) throw new InvalidMailError(toFieldErrors(checked.error, MAIL_FIELD_HINTS));
      const delayMs = parsed.data.sendAt ? Date.parse(parsed.data.sendAt) - Date.now() : 0;
      const payloadBlob = await outbox.enqueue({ ...envelope, mail: parsed.data }, { delayMs });
      return { id, ...(payloadBlob ? { payloadBlob } : {}) };
    },
  };
}
