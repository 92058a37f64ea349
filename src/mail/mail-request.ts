// The mail request accepted by POST /api/mail. This schema is the single source of truth:
// it validates requests, gives the TypeScript types (z.infer) and the API description (openapi.ts).
import { z } from 'zod';

export const MAX_RECIPIENTS = 500;
export const MAX_SCHEDULE_DAYS = 7;

const noLineBreaks = (s: string) => !/[\r\n]/.test(s);
const headerText = (max: number) =>
  z.string().max(max).refine(noLineBreaks, { message: 'must not contain CR or LF' });

const emailAddress = z.email({ message: 'not a valid email address' }).max(254);

export const addressSchema = z
  .union([
    emailAddress,
    z.object({ name: headerText(256).optional(), address: emailAddress }).strict(),
  ])
  .meta({ description: 'An address, either "user@contoso.com" or { "name": "User", "address": "user@contoso.com" }.' });

const addressListSchema = z.union([addressSchema, z.array(addressSchema).min(1)]);

// Headers a caller may set. Everything that identifies, routes or structures the message is ours to write.
const ALLOWED_HEADERS = ['in-reply-to', 'references', 'list-unsubscribe', 'list-unsubscribe-post', 'auto-submitted', 'keywords', 'comments'];
const RESERVED_X_HEADERS = /^x-(priority|msmail-priority|ms-exchange-|mailer$)/;
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,76}$/, { message: 'not a valid header name' })
  .refine((name) => {
    const lower = name.toLowerCase();
    return ALLOWED_HEADERS.includes(lower) || (lower.startsWith('x-') && !RESERVED_X_HEADERS.test(lower));
  }, { message: `header not allowed: use X-* headers or one of ${ALLOWED_HEADERS.join(', ')}` });

export const attachmentSchema = z
  .object({
    filename: headerText(255).min(1),
    contentType: z
      .string()
      .regex(/^[A-Za-z0-9][\w.+-]*\/[A-Za-z0-9][\w.+-]*$/, { message: 'not a MIME type such as application/pdf' })
      .default('application/octet-stream'),
    content: z.base64({ message: 'must be base64' }).meta({ description: 'The file, base64-encoded.' }),
    contentId: headerText(200)
      .regex(/^[^<>\s]+$/, { message: 'no angle brackets or spaces; reference it as cid:<contentId> in html' })
      .optional()
      .meta({ description: 'Makes the attachment an inline image referenced from html as cid:<contentId>.' }),
  })
  .strict();

export const mailRequestSchema = z
  .object({
    from: addressSchema.optional().meta({ description: 'Sender; must be an allowed sender. Defaults to MAIL_DEFAULT_SENDER.' }),
    to: addressListSchema.optional(),
    cc: addressListSchema.optional(),
    bcc: addressListSchema.optional(),
    replyTo: addressListSchema.optional(),
    subject: headerText(998),
    text: z.string().optional(),
    html: z.string().optional(),
    attachments: z.array(attachmentSchema).max(250).optional(),
    headers: z.record(headerName, headerText(998)).optional(),
    importance: z.enum(['low', 'normal', 'high']).optional(),
    sendAt: z.iso
      .datetime({ offset: true, message: 'must be an ISO 8601 date-time with offset, e.g. 2026-12-01T08:00:00Z' })
      .optional()
      .meta({ description: `Send no earlier than this time, at most ${MAX_SCHEDULE_DAYS} days ahead.` }),
  })
  .strict()
  .superRefine((mail, ctx) => {
    const count = (list: unknown) => (list === undefined ? 0 : Array.isArray(list) ? list.length : 1);
    const recipients = count(mail.to) + count(mail.cc) + count(mail.bcc);
    if (recipients === 0) ctx.addIssue({ code: 'custom', path: ['to'], message: 'at least one recipient in to, cc or bcc' });
    if (recipients > MAX_RECIPIENTS) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `${recipients} recipients; at most ${MAX_RECIPIENTS} in to, cc and bcc together` });
    }
    if (mail.sendAt && Date.parse(mail.sendAt) > Date.now() + MAX_SCHEDULE_DAYS * 86_400_000) {
      ctx.addIssue({ code: 'custom', path: ['sendAt'], message: `at most ${MAX_SCHEDULE_DAYS} days ahead` });
    }
    if (mail.text === undefined && mail.html === undefined) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'text or html is required' });
    }
  })
  .meta({ id: 'MailRequest', description: 'A mail to send through Exchange Online.' });

export type MailRequest = z.infer<typeof mailRequestSchema>;
export type Address = z.infer<typeof addressSchema>;

export interface FieldError {
  field: string;
  detail: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

export function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: fieldPath([...issue.path, key]), detail: 'unknown field' }));
    }
    if (issue.code === 'invalid_union') {
      // Name the deepest reason rather than "invalid input" for address unions.
      const branch = issue.errors.find((errs) => errs.length > 0 && errs.every((e) => e.code !== 'invalid_type'));
      if (branch) return branch.map((e) => ({ field: fieldPath([...issue.path, ...e.path]), detail: e.message }));
      return [{ field: fieldPath(issue.path), detail: 'expected an email address, { name, address }, or a list of them' }];
    }
    return [{ field: fieldPath(issue.path) || '(body)', detail: issue.message }];
  });
}

export function parseMailRequest(input: unknown): Validation<MailRequest> {
  const result = mailRequestSchema.safeParse(input);
  return result.success ? { ok: true, value: result.data } : { ok: false, errors: toFieldErrors(result.error) };
}

export function addressOf(address: Address): string {
  return typeof address === 'string' ? address : address.address;
}

export function listOf<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
