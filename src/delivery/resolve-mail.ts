// What an envelope asks the worker to send: its sender, recipients and schedule, and a way to open the message for
// each attempt. The mail travels inline, as JSON in a payload blob, or composed as a blob streamed from storage. A
// payload that is gone, too large, not JSON or not a valid mail can never be sent, and says why; a storage failure
// throws. Producers' payloads meet the limits and the schema a request meets at intake, and are measured before a
// byte of them is read.
import type { Readable } from 'node:stream';
import type Mail from 'nodemailer/lib/mailer';
import { checkLoadedMail, type Envelope } from '../mail/envelope';
import { recipientsOf, senderOf } from '../mail/addresses';
import { composeMessage } from '../mail/compose';
import type { MailRequest } from '../mail/mail-request';
import { maxComposedBytes, maxRequestBytes, messageBytes } from '../mail/message-size';
import { DuplicateKeyError, parseJsonBody } from '../intake/parse-json-body';
import { PayloadTooLargeError, type Outbox } from '../mail/outbox';

export interface ResolvedMessage {
  sender: string;
  recipients: string[];
  sendAt?: string;
  /** Where the outcome is posted, when a producer's mail names it (intake records it itself). */
  callbackUrl?: string;
  /** The message for one SMTP attempt. A composed message is a stream from storage, readable once: open one per attempt. */
  open: () => Promise<Mail.Options>;
}

/** Why a message can never be sent as it stands: its failure category and the reason. */
export interface Unsendable {
  category: 'malformed' | 'message-too-large';
  reason: string;
}

/** Thrown by open() when the composed message turns out unsendable (gone, or over the limit). */
export class UnsendableError extends Error {
  override name = 'UnsendableError';
  constructor(readonly unsendable: Unsendable) {
    super(unsendable.reason);
  }
}

export async function resolveMessage(
  envelope: Envelope,
  outbox: Pick<Outbox, 'loadPayload' | 'openMime'>,
  maxMessageBytes: number,
): Promise<ResolvedMessage | { unsendable: Unsendable }> {
  const { id, createdAt, mime } = envelope;
  if (mime) {
    return {
      sender: mime.from.toLowerCase(),
      recipients: mime.to,
      sendAt: mime.sendAt,
      callbackUrl: mime.callbackUrl,
      open: async () => {
        let raw: Readable;
        try {
          raw = await outbox.openMime(mime.blob, maxComposedBytes(maxMessageBytes));
        } catch (error) {
          const unsendable = unreadable(error, mime.blob);
          if (unsendable) throw new UnsendableError(unsendable);
          throw error;
        }
        return { envelope: { from: mime.from, to: mime.to }, raw };
      },
    };
  }
  const mail = await mailOf(envelope, outbox, maxMessageBytes);
  if ('unsendable' in mail) return mail;
  const size = messageBytes(mail);
  if (size > maxMessageBytes) {
    return tooLarge(`subject, headers, bodies and attachments come to ${size} bytes; MAIL_MAX_MESSAGE_BYTES is ${maxMessageBytes}`);
  }
  return {
    sender: senderOf(mail),
    recipients: recipientsOf(mail),
    sendAt: mail.sendAt,
    callbackUrl: mail.callbackUrl,
    open: () => Promise.resolve(composeMessage({ id, createdAt, mail })),
  };
}

async function mailOf(
  { mail, mailBlob }: Envelope,
  outbox: Pick<Outbox, 'loadPayload'>,
  maxMessageBytes: number,
): Promise<MailRequest | { unsendable: Unsendable }> {
  if (mail) return mail;
  let bytes: Buffer;
  try {
    bytes = await outbox.loadPayload(mailBlob!, maxRequestBytes(maxMessageBytes));
  } catch (error) {
    const unsendable = unreadable(error, mailBlob!);
    if (unsendable) return { unsendable };
    throw error;
  }
  let loaded: unknown;
  try {
    // Read as intake reads a request: a member given twice is refused, not resolved one way or the other.
    loaded = parseJsonBody(bytes);
  } catch (error) {
    if (error instanceof DuplicateKeyError) return malformed(`mailBlob:${error.field}: given twice in one object`);
    if (error instanceof SyntaxError) return malformed(`payload blob ${mailBlob} is not JSON`);
    throw error;
  }
  const checked = checkLoadedMail(loaded);
  return checked.ok ? checked.mail : malformed(checked.errors.map((e) => `${e.field}: ${e.detail}`).join('; '));
}

/** A payload blob that cannot be read for what it is, not for a storage failure. */
function unreadable(error: unknown, blob: string): Unsendable | undefined {
  if ((error as { statusCode?: number }).statusCode === 404)
    return { category: 'malformed', reason: `payload blob ${blob} does not exist` };
  if (error instanceof PayloadTooLargeError) return { category: 'message-too-large', reason: error.message };
  return undefined;
}

const malformed = (reason: string) => ({ unsendable: { category: 'malformed' as const, reason } });
const tooLarge = (reason: string) => ({ unsendable: { category: 'message-too-large' as const, reason } });
