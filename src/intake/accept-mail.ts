// Turns an HTTP body into an envelope on the outbox, or into a problem naming every bad field.
// Knows nothing of the Functions host: the handler passes the bytes and headers in.
import { isAllowedSender, type MailConfig } from '../config';
import { addressOf, parseMailRequest, type FieldError, type MailRequest } from '../mail/mail-request';
import { newEnvelope, type Envelope } from '../mail/envelope';

export interface IntakeInput {
  contentType: string | null;
  body: Buffer;
}

export type IntakeResult =
  | { status: 202; envelope: Envelope }
  | { status: 400 | 413 | 415; title: string; detail: string; errors?: FieldError[] };

export interface IntakeDeps {
  config: Pick<MailConfig, 'allowedSenders' | 'defaultSender' | 'maxMessageBytes'>;
  enqueue: (envelope: Envelope) => Promise<void>;
}

/** Largest JSON body worth reading: the message limit in base64 (4/3) plus room for the JSON around it. */
export function maxRequestBytes(maxMessageBytes: number): number {
  return Math.ceil(maxMessageBytes / 3) * 4 + 1024 * 1024;
}

export async function acceptMail(input: IntakeInput, deps: IntakeDeps): Promise<IntakeResult> {
  const mediaType = input.contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json' && !mediaType?.endsWith('+json')) {
    return { status: 415, title: 'Unsupported media type', detail: `Send the mail request as application/json (got ${mediaType || 'no Content-Type'}).` };
  }
  const limit = maxRequestBytes(deps.config.maxMessageBytes);
  if (input.body.length > limit) {
    return { status: 413, title: 'Request too large', detail: `The body is ${input.body.length} bytes; the limit is ${limit}.` };
  }
  let json: unknown;
  try {
    json = JSON.parse(input.body.toString('utf8'));
  } catch (error) {
    return { status: 400, title: 'Invalid JSON', detail: `The body is not valid JSON: ${(error as Error).message}`, errors: [{ field: '(body)', detail: 'not valid JSON' }] };
  }
  const parsed = parseMailRequest(json);
  if (!parsed.ok) return invalid(parsed.errors);

  const mail = withSender(parsed.value, deps.config);
  if ('errors' in mail) return invalid(mail.errors);

  const size = messageBytes(mail);
  if (size > deps.config.maxMessageBytes) {
    return { status: 413, title: 'Message too large', detail: `Bodies and attachments come to ${size} bytes; the limit is ${deps.config.maxMessageBytes}.` };
  }

  const envelope = newEnvelope(mail);
  await deps.enqueue(envelope);
  return { status: 202, envelope };
}

function invalid(errors: FieldError[]): IntakeResult {
  return { status: 400, title: 'Invalid mail request', detail: `${errors.length} field(s) are invalid.`, errors };
}

function withSender(mail: MailRequest, config: IntakeDeps['config']): MailRequest | { errors: FieldError[] } {
  if (!mail.from) {
    if (!config.defaultSender) return { errors: [{ field: 'from', detail: 'required: no default sender is configured (MAIL_DEFAULT_SENDER)' }] };
    return { ...mail, from: config.defaultSender };
  }
  const sender = addressOf(mail.from);
  if (!isAllowedSender(sender, config.allowedSenders)) {
    return { errors: [{ field: 'from', detail: `${sender} is not an allowed sender (MAIL_ALLOWED_SENDERS)` }] };
  }
  return mail;
}

/** Decoded size of what becomes the message: bodies plus attachments (base64 decodes to 3/4). */
export function messageBytes(mail: MailRequest): number {
  const base64Bytes = (b64: string) => Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
  return (
    Buffer.byteLength(mail.text ?? '') +
    Buffer.byteLength(mail.html ?? '') +
    (mail.attachments ?? []).reduce((sum, a) => sum + base64Bytes(a.content), 0)
  );
}
