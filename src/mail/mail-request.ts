// The mail request accepted by POST /api/mail. This schema is the single source of truth:
// it validates requests, gives the TypeScript types (z.infer) and the API description (openapi.ts).
import { z } from 'zod';
import { callbackUrlShapeProblem, MAX_CALLBACK_URL } from './callback-url';
import { requiredMembers, toFieldErrors, type FieldHints, type Validation } from '../validation/field-errors';
import { structureProblems } from '../validation/json-structure';

export const MAX_RECIPIENTS = 500;
export const MAX_REPLY_TO = 50;
export const MAX_ATTACHMENTS = 250;
export const MAX_SCHEDULE_DAYS = 7;
export const MAX_CUSTOM_HEADERS = 50;
/** Names plus values of all custom headers together. */
export const MAX_CUSTOM_HEADER_BYTES = 16 * 1024;
/**
 * RFC 5322 caps a line at 998 octets. nodemailer folds a long header before its value, so an unbroken value
 * ends up on a line of its own after one space of indentation: 997 characters is the longest that fits.
 */
export const MAX_HEADER_VALUE = 997;

const noLineBreaks = (s: string) => !/[\r\n]/.test(s);
// Other control characters (NUL, VT, ESC…) have no business in a header either.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const noControlCharacters = (s: string) => !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(s);
const headerText = (max: number) =>
  z
    .string()
    .max(max)
    .refine(noLineBreaks, { message: 'must not contain CR or LF' })
    .refine(noControlCharacters, { message: 'must not contain control characters' });

/**
 * ASCII addresses only, so the SMTP envelope and the headers stay ASCII without SMTPUTF8: internationalised
 * domains in their A-label form (user@xn--bcher-kva.example, IDN top-level domains too); a non-ASCII local part
 * is refused. Local part as zod's email check has it, at most 64 characters (RFC 5321).
 */
const EMAIL_ADDRESS =
  /^(?!\.)(?!.*\.\.)[A-Za-z0-9_'+\-.]{0,63}[A-Za-z0-9_+-]@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$/i;
export const emailAddressSchema = z
  .email({
    pattern: EMAIL_ADDRESS,
    error: (issue) =>
      issue.input === undefined ? 'required' : 'not a valid email address (ASCII; internationalised domains as xn-- A-labels)',
  })
  .max(254);

export const addressSchema = z
  .union([emailAddressSchema, z.object({ name: headerText(256).optional(), address: emailAddressSchema }).strict()])
  .meta({ description: 'An address, either "user@contoso.com" or { "name": "User", "address": "user@contoso.com" }.' });

const addressListSchema = (max: number) => z.union([addressSchema, z.array(addressSchema).min(1).max(max)]);

// Headers a caller may set. Everything that identifies, routes or structures the message is ours to write.
const ALLOWED_HEADERS = [
  'in-reply-to',
  'references',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'auto-submitted',
  'keywords',
  'comments',
];
const RESERVED_X_HEADERS = /^x-(priority|msmail-priority|ms-exchange-|mailer$)/;
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,76}$/, { message: 'not a valid header name' })
  .refine(
    (name) => {
      const lower = name.toLowerCase();
      return ALLOWED_HEADERS.includes(lower) || (lower.startsWith('x-') && !RESERVED_X_HEADERS.test(lower));
    },
    { message: `header not allowed: use X-* headers or one of ${ALLOWED_HEADERS.join(', ')}` },
  );

/**
 * Standard base64 with its padding. zod's own check decodes the string to test it, which for a 35 MB attachment
 * costs three times its size in memory; this pattern is linear, allocates nothing, and with the length a multiple
 * of four says the same.
 */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64Schema = z
  .string()
  .refine((s) => s.length % 4 === 0 && BASE64.test(s), {
    message: 'must be base64 (A-Z, a-z, 0-9, + and /, padded with = to a multiple of 4)',
  })
  .meta({ format: 'base64', contentEncoding: 'base64', pattern: BASE64.source });

const MIME_TYPE = /^[A-Za-z0-9][\w.+-]*\/[A-Za-z0-9][\w.+-]*$/;
const ATTACHMENT_TYPES = /^(application|audio|font|image|model|text|video)\//i;

export const attachmentSchema = z
  .object({
    filename: headerText(255).min(1),
    contentType: z
      .string()
      .max(127)
      .regex(MIME_TYPE, { message: 'not a MIME type such as application/pdf' })
      // multipart/* and message/* would be parsed as structure by the receiver and the file lost.
      .refine((type) => !MIME_TYPE.test(type) || ATTACHMENT_TYPES.test(type), {
        message: 'must be a discrete media type (application, audio, font, image, model, text or video)',
      })
      .default('application/octet-stream'),
    content: base64Schema.meta({ description: 'The file, base64-encoded.' }),
    contentId: headerText(200)
      .regex(/^[^<>\s]+$/, { message: 'no angle brackets or spaces; reference it as cid:<contentId> in html' })
      .optional()
      .meta({ description: 'Makes the attachment an inline image referenced from html as cid:<contentId>.' }),
  })
  .strict()
  // An inline part of another type is read by mail clients as part of the body, and the file is lost.
  .refine((a) => a.contentId === undefined || /^image\//i.test(a.contentType), {
    message: 'contentId (inline) is for image/* attachments only',
    path: ['contentId'],
  });

/** Where the outcome is posted; the host allow-list is checked against the caller's settings, not here. */
export const callbackUrlSchema = z
  .string()
  .superRefine((url, ctx) => {
    const problem = callbackUrlShapeProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description: `https URL (at most ${MAX_CALLBACK_URL} characters, a host the operator allows in MAIL_CALLBACK_HOSTS) that gets a signed CloudEvent (Standard Webhooks signature) when the mail is sent or has failed.`,
  });

/** In-Reply-To and References hold message ids: ASCII, each in angle brackets, separated by spaces. */
const MESSAGE_ID_LIST = /^<[\x21-\x3b\x3d\x3f-\x7e]+>(?: <[\x21-\x3b\x3d\x3f-\x7e]+>)*$/;
const MESSAGE_ID_HEADERS = ['in-reply-to', 'references'];

export const mailRequestSchema = z
  .object({
    from: addressSchema.optional().meta({ description: 'Sender; must be an allowed sender. Defaults to MAIL_DEFAULT_SENDER.' }),
    to: addressListSchema(MAX_RECIPIENTS).optional(),
    cc: addressListSchema(MAX_RECIPIENTS).optional(),
    bcc: addressListSchema(MAX_RECIPIENTS).optional(),
    replyTo: addressListSchema(MAX_REPLY_TO).optional(),
    subject: headerText(MAX_HEADER_VALUE)
      .min(1, { message: 'required: must not be empty', abort: true })
      .refine((subject) => subject.trim() !== '', { message: 'required: must not be blank' }),
    text: z.string().optional(),
    html: z.string().optional(),
    attachments: z.array(attachmentSchema).max(MAX_ATTACHMENTS).optional(),
    headers: z
      .record(headerName, headerText(MAX_HEADER_VALUE))
      .optional()
      .meta({ description: `At most ${MAX_CUSTOM_HEADERS} headers, ${MAX_CUSTOM_HEADER_BYTES} bytes of names and values together.` }),
    importance: z.enum(['low', 'normal', 'high']).optional(),
    sendAt: z.iso
      .datetime({ offset: true, message: 'must be an ISO 8601 date-time with offset, e.g. 2026-12-01T08:00:00Z' })
      .optional()
      .meta({ description: `Send no earlier than this time, at most ${MAX_SCHEDULE_DAYS} days ahead.` }),
    callbackUrl: callbackUrlSchema.optional(),
  })
  .strict()
  .superRefine(
    (mail, ctx) => {
      const count = (list: unknown) => (list === undefined ? 0 : Array.isArray(list) ? list.length : 1);
      const recipients = count(mail.to) + count(mail.cc) + count(mail.bcc);
      if (recipients === 0) ctx.addIssue({ code: 'custom', path: ['to'], message: 'at least one recipient in to, cc or bcc' });
      // A list over the limit on its own is named by its own check.
      if (recipients > MAX_RECIPIENTS && [mail.to, mail.cc, mail.bcc].every((list) => count(list) <= MAX_RECIPIENTS)) {
        ctx.addIssue({
          code: 'custom',
          path: ['to'],
          message: `${recipients} recipients; at most ${MAX_RECIPIENTS} in to, cc and bcc together`,
        });
      }
      if (typeof mail.sendAt === 'string' && Date.parse(mail.sendAt) > Date.now() + MAX_SCHEDULE_DAYS * 86_400_000) {
        ctx.addIssue({ code: 'custom', path: ['sendAt'], message: `at most ${MAX_SCHEDULE_DAYS} days ahead` });
      }
      if (mail.text === undefined && mail.html === undefined) {
        ctx.addIssue({ code: 'custom', path: ['text'], message: 'text or html is required' });
      }
      if (isStringRecord(mail.headers)) {
        const entries = Object.entries(mail.headers);
        if (entries.length > MAX_CUSTOM_HEADERS) {
          ctx.addIssue({ code: 'custom', path: ['headers'], message: `${entries.length} headers; at most ${MAX_CUSTOM_HEADERS}` });
        }
        const bytes = customHeaderBytes(mail.headers);
        if (bytes > MAX_CUSTOM_HEADER_BYTES) {
          ctx.addIssue({
            code: 'custom',
            path: ['headers'],
            message: `${bytes} bytes of names and values; at most ${MAX_CUSTOM_HEADER_BYTES}`,
          });
        }
        const seen = new Set<string>();
        for (const [name, value] of entries) {
          if (MESSAGE_ID_HEADERS.includes(name.toLowerCase()) && !MESSAGE_ID_LIST.test(value)) {
            ctx.addIssue({
              code: 'custom',
              path: ['headers', name],
              message: 'message ids in angle brackets, separated by spaces, ASCII only: <id@domain> <id@domain>',
            });
          }
          // Header names are case-insensitive: two spellings of one name would become two headers.
          if (seen.has(name.toLowerCase()))
            ctx.addIssue({ code: 'custom', path: ['headers', name], message: 'given twice (header names ignore case)' });
          seen.add(name.toLowerCase());
        }
      }
    },
    // Checked even when a member failed (a required one missing, say), so one answer names every bad field: the
    // members may then be of any type, hence the type checks above.
    { when: ({ value }) => typeof value === 'object' && value !== null && !Array.isArray(value) },
  )
  .meta({ id: 'MailRequest', description: 'A mail to send through Exchange Online.' });

export type MailRequest = z.infer<typeof mailRequestSchema>;

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

export function customHeaderBytes(headers: Record<string, string>): number {
  return Object.entries(headers).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value), 0);
}
export type Address = z.infer<typeof addressSchema>;

/** The members an object at a path of a mail request may have, for "did you mean" on an unknown one. */
function mailMembers(path: readonly PropertyKey[]): readonly string[] {
  const [top, index] = path;
  if (path.length === 0) return Object.keys(mailRequestSchema.shape);
  if (top === 'attachments' && typeof index === 'number' && path.length === 2) return Object.keys(attachmentSchema.shape);
  const addressField = ['from', 'to', 'cc', 'bcc', 'replyTo'].includes(String(top));
  return addressField && path.length <= 2 ? ['name', 'address'] : [];
}

/**
 * Field errors of a mail, or of a message holding one, name a mistyped address by what it may be; the request itself
 * also gets "did you mean" on a misspelt member.
 */
export const MAIL_FIELD_HINTS: FieldHints = { unionMismatch: 'expected an email address, { name, address }, or a list of them' };

export function parseMailRequest(input: unknown): Validation<MailRequest> {
  const reserved = structureProblems(input);
  if (reserved.length > 0) return { ok: false, errors: reserved };
  const result = mailRequestSchema.safeParse(input, { error: requiredMembers });
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, errors: toFieldErrors(result.error, { ...MAIL_FIELD_HINTS, members: mailMembers }) };
}

export function addressOf(address: Address): string {
  return typeof address === 'string' ? address : address.address;
}

export function listOf<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
