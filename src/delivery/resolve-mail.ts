// What an envelope asks the worker to send: its sender, recipients and schedule, and a way to open the message for
// each attempt. The mail travels inline, as JSON in a payload blob, or composed as a blob streamed from storage. A
// payload that is gone, is not JSON or is not a valid mail can never be sent, and says why; a storage failure throws.
import type { Readable } from 'node:stream';
import type Mail from 'nodemailer/lib/mailer';
import { checkLoadedMail, type Envelope } from '../mail/envelope';
import { recipientsOf, senderOf } from '../mail/addresses';
import { composeMessage } from '../mail/compose';
import type { MailRequest } from '../mail/mail-request';
import type { Outbox } from '../storage/outbox';

export interface ResolvedMessage {
  sender: string;
  recipients: string[];
  sendAt?: string;
  /** Where the outcome is posted, when a producer's mail names it (intake records it itself). */
  callbackUrl?: string;
  /** The message for one SMTP attempt. A composed message is a stream from storage, readable once: open one per attempt. */
  open: () => Promise<Mail.Options>;
}

/** The payload blob the envelope names is not there (deleted, or never written): the message cannot be sent. */
export class MissingPayloadError extends Error {
  override name = 'MissingPayloadError';
}

export async function resolveMessage(
  envelope: Envelope,
  outbox: Pick<Outbox, 'loadMail' | 'openMime'>,
): Promise<ResolvedMessage | { errors: string }> {
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
          raw = await outbox.openMime(mime.blob);
        } catch (error) {
          if (isNotFound(error)) throw new MissingPayloadError(`payload blob ${mime.blob} does not exist`);
          throw error;
        }
        return { envelope: { from: mime.from, to: mime.to }, raw };
      },
    };
  }
  const mail = await mailOf(envelope, outbox);
  if ('errors' in mail) return mail;
  return {
    sender: senderOf(mail),
    recipients: recipientsOf(mail),
    sendAt: mail.sendAt,
    callbackUrl: mail.callbackUrl,
    open: () => Promise.resolve(composeMessage({ id, createdAt, mail })),
  };
}

async function mailOf({ mail, mailBlob }: Envelope, outbox: Pick<Outbox, 'loadMail'>): Promise<MailRequest | { errors: string }> {
  if (mail) return mail;
  let loaded: unknown;
  try {
    loaded = await outbox.loadMail(mailBlob!);
  } catch (error) {
    if (isNotFound(error)) return { errors: `payload blob ${mailBlob} does not exist` };
    if (error instanceof SyntaxError) return { errors: `payload blob ${mailBlob} is not JSON` };
    throw error;
  }
  const checked = checkLoadedMail(loaded);
  return checked.ok ? checked.mail : { errors: checked.errors.map((e) => `${e.field}: ${e.detail}`).join('; ') };
}

const isNotFound = (error: unknown) => (error as { statusCode?: number }).statusCode === 404;
