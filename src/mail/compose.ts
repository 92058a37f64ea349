// Envelope → nodemailer message, and the message as RFC 5322 text. Attachments are decoded from their base64 a
// slice at a time while the message is written, so a large attachment is never held a second time, decoded.
import { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import type Mail from 'nodemailer/lib/mailer';
import { smtpMessageId } from './envelope';
import { recipientsOf, senderOf } from './addresses';
import type { MailRequest } from './mail-request';

/** A mail ready to go: its id and creation time come from the envelope, the mail from it or its payload blob. */
export interface OutgoingMail {
  id: string;
  createdAt: string;
  mail: MailRequest;
}

export function composeMessage({ id, createdAt, mail }: OutgoingMail): Mail.Options {
  const sender = senderOf(mail);
  return {
    // The SMTP envelope spelled out from the validated (ASCII, A-label) addresses, so MAIL FROM and RCPT TO
    // carry exactly what the headers carry and never need SMTPUTF8.
    envelope: { from: sender, to: recipientsOf(mail) },
    from: mail.from,
    to: mail.to,
    cc: mail.cc,
    bcc: mail.bcc,
    replyTo: mail.replyTo,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: smtpMessageId(id, sender),
    date: new Date(createdAt),
    priority: mail.importance,
    headers: mail.headers,
    attachments: mail.attachments?.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: decodedBase64(a.content),
      ...(a.contentId ? { cid: a.contentId, contentDisposition: 'inline' as const } : {}),
    })),
  };
}

/** The whole message as it goes over SMTP (without Bcc, which only the envelope carries), as a stream. */
export function composeMime(outgoing: OutgoingMail): Readable {
  return new MailComposer(composeMessage(outgoing)).compile().createReadStream();
}

/** Base64 characters decoded per slice: a multiple of 4, so every slice decodes on its own. */
const SLICE = 64 * 1024;

/**
 * The bytes of validated base64 (padding only at the end, length a multiple of 4), decoded a slice at a time as
 * the reader asks for them. A small attachment is simply decoded.
 */
function decodedBase64(base64: string): Buffer | Readable {
  if (base64.length <= SLICE) return Buffer.from(base64, 'base64');
  let at = 0;
  return new Readable({
    read() {
      if (at >= base64.length) return void this.push(null);
      this.push(Buffer.from(base64.slice(at, at + SLICE), 'base64'));
      at += SLICE;
    },
  });
}
