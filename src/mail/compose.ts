// Envelope → nodemailer message. Attachments are decoded here, once, straight from the envelope.
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
      content: Buffer.from(a.content, 'base64'),
      ...(a.contentId ? { cid: a.contentId, contentDisposition: 'inline' as const } : {}),
    })),
  };
}
