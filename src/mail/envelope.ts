// The queue message: a public, versioned contract. Other producers may write it directly
// (base64-encoded JSON, the Functions host's default queue encoding).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { emailDomain } from './addresses';
import { decodeQueueMessage } from '../storage/queue-message';
import { currentTraceparent, TRACEPARENT } from '../telemetry/trace-context';
import {
  callbackUrlSchema,
  emailAddressSchema,
  MAIL_FIELD_HINTS,
  MAX_RECIPIENTS,
  mailRequestSchema,
  type MailRequest,
} from './mail-request';
import { requiredMembers, toFieldErrors, type FieldError } from '../validation/field-errors';
import { structureProblems } from '../validation/json-structure';

export const ENVELOPE_VERSION = 1;

export const messageIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, { message: '1-100 letters, digits, dot, dash or underscore' });

/**
 * A payload blob's name is the one the product makes: a message id plus ".json". That is one path segment:
 * no "/", "\\" or "%" in the alphabet and a letter or digit first, so it can never be "." or "..", never
 * escape MAIL_PAYLOAD_CONTAINER ("../other/mail.json") and never name a folder-like path ("a/b.json").
 */
export const payloadBlobNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.json$/, { message: 'must be <message id>.json: no "/", "\\" or "%"' });

/** The payload blob of a message: made from its id, so it always passes payloadBlobNameSchema. */
export function payloadBlobName(id: string): string {
  return `${id}.json`;
}

/** A composed message's blob: the message id plus ".eml", one path segment for the same reasons. */
export const mimeBlobNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.eml$/, { message: 'must be <message id>.eml: no "/", "\\" or "%"' });

export function mimeBlobName(id: string): string {
  return `${id}.eml`;
}

/**
 * A message composed once, at intake, and kept as RFC 5322 text in a blob, so the worker streams it from storage to
 * the SMTP connection without holding it in memory. The blob has no Bcc header, so the SMTP envelope travels here.
 */
export const mimeReferenceSchema = z
  .object({
    blob: mimeBlobNameSchema.meta({ description: '"<id>.eml", the blob in MAIL_PAYLOAD_CONTAINER holding the composed message.' }),
    from: emailAddressSchema.meta({ description: 'SMTP MAIL FROM: the sending mailbox, which must be an allowed sender.' }),
    to: z
      .array(emailAddressSchema)
      .min(1)
      .max(MAX_RECIPIENTS)
      .meta({ description: 'SMTP RCPT TO: every recipient of the message (to, cc and bcc).' }),
    sendAt: z.iso.datetime({ offset: true }).optional().meta({ description: 'Send no earlier than this time.' }),
    callbackUrl: callbackUrlSchema.optional(),
  })
  .strict();

export type MimeReference = z.infer<typeof mimeReferenceSchema>;

export const envelopeSchema = z
  .object({
    version: z.literal(ENVELOPE_VERSION).meta({ description: 'Envelope format version.' }),
    id: messageIdSchema.meta({ description: 'Message id; the SMTP Message-ID is derived from it.' }),
    createdAt: z.iso.datetime({ offset: true }),
    traceparent: z
      .string()
      .regex(TRACEPARENT, { message: 'a W3C traceparent, e.g. 00-<32 hex>-<16 hex>-01' })
      .optional()
      .meta({ description: 'W3C trace context of the request that queued it, so its trace continues in the worker.' }),
    mail: mailRequestSchema.optional().meta({ description: 'The mail itself, or…' }),
    mailBlob: payloadBlobNameSchema.optional().meta({
      description:
        '…"<id>.json", the blob in MAIL_PAYLOAD_CONTAINER holding the mail as JSON, for mails too large for a queue message, or…',
    }),
    mime: mimeReferenceSchema.optional().meta({
      description: '…a message composed by the product: its blob and SMTP envelope (what POST /api/mail writes for large mails).',
    }),
  })
  .strict()
  .refine((e) => [e.mail, e.mailBlob, e.mime].filter((part) => part !== undefined).length === 1, {
    message: 'exactly one of mail, mailBlob and mime',
    path: ['mail'],
  })
  // A message reads (and, once final, deletes) only its own payload, never another message's.
  .refine((e) => e.mailBlob === undefined || e.mailBlob === payloadBlobName(e.id), {
    message: 'must be "<id>.json", the payload of this message',
    path: ['mailBlob'],
  })
  .refine((e) => e.mime === undefined || e.mime.blob === mimeBlobName(e.id), {
    message: 'must be "<id>.eml", the message of this envelope',
    path: ['mime', 'blob'],
  })
  .meta({ id: 'OutboxEnvelope', description: 'A message on the outbox queue (JSON, base64-encoded).' });

export type Envelope = z.infer<typeof envelopeSchema>;

export function newEnvelope(mail: MailRequest, id: string = randomUUID(), now = new Date(), traceparent = currentTraceparent()): Envelope {
  return { version: ENVELOPE_VERSION, id, createdAt: now.toISOString(), ...(traceparent ? { traceparent } : {}), mail };
}

/** An outbox queue message, checked as the worker takes it. */
export function decodeEnvelope(item: unknown): { ok: true; envelope: Envelope } | { ok: false; errors: FieldError[] } {
  const decoded = decodeQueueMessage(item, envelopeSchema, 'not JSON (producers must write base64-encoded JSON)', MAIL_FIELD_HINTS);
  if (!decoded.ok) return decoded;
  if (decoded.value.mail && !decoded.value.mail.from)
    return { ok: false, errors: [{ field: 'mail.from', detail: 'required in an envelope' }] };
  return { ok: true, envelope: decoded.value };
}

/** Validates a mail loaded from a payload blob, as strictly as an inline one. */
export function checkLoadedMail(value: unknown): { ok: true; mail: MailRequest } | { ok: false; errors: FieldError[] } {
  const reserved = structureProblems(value);
  if (reserved.length > 0) return { ok: false, errors: reserved.map((e) => ({ ...e, field: `mailBlob:${e.field}` })) };
  const result = mailRequestSchema.safeParse(value, { error: requiredMembers });
  if (!result.success)
    return { ok: false, errors: toFieldErrors(result.error, MAIL_FIELD_HINTS).map((e) => ({ ...e, field: `mailBlob:${e.field}` })) };
  if (!result.data.from) return { ok: false, errors: [{ field: 'mailBlob:from', detail: 'required in an envelope' }] };
  return { ok: true, mail: result.data };
}

/** Message-ID derived from the id, so a redelivered message carries the same Message-ID. */
export function smtpMessageId(id: string, sender: string): string {
  return `<${id}@${emailDomain(sender)}>`;
}
