// Envelope → nodemailer message. Attachments are decoded here, once, straight from the envelope.
import type Mail from 'nodemailer/lib/mailer';
import { smtpMessageId, type Envelope } from './envelope';
import { senderOf } from './addresses';

export function composeMessage(envelope: Envelope): Mail.Options {
  const { mail } = envelope;
  const sender = senderOf(mail);
  return {
    from: mail.from,
    to: mail.to,
    cc: mail.cc,
    bcc: mail.bcc,
    replyTo: mail.replyTo,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: smtpMessageId(envelope, sender),
    date: new Date(envelope.createdAt),
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
