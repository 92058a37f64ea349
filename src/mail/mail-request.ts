// The mail request accepted by POST /api/mail. This schema is the single source of truth:
// it validates requests, gives the TypeScript types (z.infer) and the API description (openapi.ts).
import { z } from 'zod';
import { callbackUrlShapeProblem, MAX_CALLBACK_URL } from '../callbacks/callback-url';

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

export interface FieldError {
  field: string;
  detail: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

/** Request schemas are parsed with this: a member left out is "required", not the library's "expected string, received undefined". */
export const requiredMembers: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;

/** The members an object at a path of a mail request may have, for "did you mean" on an unknown one. */
function mailMembers(path: readonly PropertyKey[]): readonly string[] {
  const [top, index] = path;
  if (path.length === 0) return Object.keys(mailRequestSchema.shape);
  if (top === 'attachments' && typeof index === 'number' && path.length === 2) return Object.keys(attachmentSchema.shape);
  const addressField = ['from', 'to', 'cc', 'bcc', 'replyTo'].includes(String(top));
  return addressField && path.length <= 2 ? ['name', 'address'] : [];
}

/** The known member a misspelt one most likely meant: the same but for case, or at most two edits away. */
export function closestMember(key: string, members: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameButCase = members.find((member) => member.toLowerCase() === lower);
  if (sameButCase) return sameButCase;
  const near = members
    .map((member) => ({ member, distance: editDistance(lower, member.toLowerCase()) }))
    .filter(({ member, distance }) => distance <= Math.min(2, Math.floor(member.length / 3)))
    .sort((a, b) => a.distance - b.distance);
  return near[0]?.member;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit; keys are short, so a full table is fine. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return Infinity;
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** An issue saying the value is not of a branch's type at all (nor of any branch of a union there). */
function notOfType(issue: z.core.$ZodIssue): boolean {
  if (issue.path.length > 0) return false;
  return issue.code === 'invalid_type' || (issue.code === 'invalid_union' && issue.errors.every((errs) => errs.some(notOfType)));
}

/** Field errors of a failed parse; `members` names what an object at a path may hold, so a misspelt member gets a hint. */
export function toFieldErrors(error: z.ZodError, members?: (path: readonly PropertyKey[]) => readonly string[]): FieldError[] {
  type Issue = z.core.$ZodIssue;
  const errorsOf = (issue: Issue, prefix: readonly PropertyKey[]): FieldError[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const meant = members && closestMember(key, members(path));
        return { field: fieldPath([...path, key]), detail: meant ? `unknown field; did you mean ${meant}?` : 'unknown field' };
      });
    }
    if (issue.code === 'invalid_union') {
      // Name the reasons of the branch the value was meant for (of its type), rather than "invalid input".
      const branch = issue.errors.find((errs) => errs.length > 0 && !errs.some(notOfType));
      if (branch) return branch.flatMap((inner) => errorsOf(inner, path));
      return [{ field: fieldPath(path), detail: 'expected an email address, { name, address }, or a list of them' }];
    }
    if (issue.code === 'invalid_key') {
      // A record key that fails its own check: say why (e.g. which headers are allowed), not just "invalid key".
      return issue.issues.map((inner) => ({ field: fieldPath(path), detail: inner.message }));
    }
    return [{ field: fieldPath(path) || '(body)', detail: issue.message }];
  };
  return error.issues.flatMap((issue) => errorsOf(issue, []));
}

// Keys that reach an object's prototype machinery when some consumer merges or indexes by them.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper than any request needs; a bound keeps a hostile body from costing time in proportion to its nesting. */
export const MAX_JSON_DEPTH = 32;

interface Visit {
  value: unknown;
  key?: PropertyKey;
  parent?: Visit;
  depth: number;
}

const pathOf = (visit: Visit): PropertyKey[] => {
  const path: PropertyKey[] = [];
  for (let at: Visit | undefined = visit; at?.key !== undefined; at = at.parent) path.unshift(at.key);
  return path;
};

/**
 * Every path in parsed JSON that uses a forbidden key, or nests deeper than MAX_JSON_DEPTH. Walks iteratively with
 * parent links, so the cost is linear in the size of the input and paths are built only for what is reported.
 */
export function structureProblems(input: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const pending: Visit[] = [{ value: input, depth: 0 }];
  while (pending.length > 0) {
    const visit = pending.pop()!;
    const { value, depth } = visit;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      // Named by the top-level field it sits in: the caller wrote that field wrong, whatever lies below.
      const [top] = pathOf(visit);
      errors.push({ field: typeof top === 'string' ? top : '(body)', detail: `nested deeper than ${MAX_JSON_DEPTH} levels` });
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push({ value: item, key: index, parent: visit, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) errors.push({ field: fieldPath([...pathOf(visit), key]), detail: 'reserved key name' });
      else pending.push({ value: (value as Record<string, unknown>)[key], key, parent: visit, depth: depth + 1 });
    }
  }
  return errors;
}

export function parseMailRequest(input: unknown): Validation<MailRequest> {
  const reserved = structureProblems(input);
  if (reserved.length > 0) return { ok: false, errors: reserved };
  const result = mailRequestSchema.safeParse(input, { error: requiredMembers });
  return result.success ? { ok: true, value: result.data } : { ok: false, errors: toFieldErrors(result.error, mailMembers) };
}

export function addressOf(address: Address): string {
  return typeof address === 'string' ? address : address.address;
}

export function listOf<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
