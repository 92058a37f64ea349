// How large a mail is, and how large what carries it may be: the JSON of a request (or a producer's payload blob)
// and the composed message. Intake and worker bound what they read by the same figures.
import { customHeaderBytes, type MailRequest } from './mail-request';

const ROOM = 1024 * 1024;

/** Largest JSON of a mail within the limit worth reading: the limit in base64 (4/3) plus room for the JSON around it. */
export function maxRequestBytes(maxMessageBytes: number): number {
  return Math.ceil(maxMessageBytes / 3) * 4 + ROOM;
}

/**
 * Largest composed message (RFC 5322 text) a mail within the limit can become: quoted-printable, which nodemailer
 * picks for mostly-Latin text, at worst about 2.6 times a body's bytes (base64 grows by a third), plus room for headers.
 */
export function maxComposedBytes(maxMessageBytes: number): number {
  return 3 * maxMessageBytes + ROOM;
}

/** Decoded size of what becomes the message: subject, custom headers, bodies and attachments (base64 decodes to 3/4). */
export function messageBytes(mail: MailRequest): number {
  const base64Bytes = (b64: string) => Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
  return (
    Buffer.byteLength(mail.subject) +
    customHeaderBytes(mail.headers ?? {}) +
    Buffer.byteLength(mail.text ?? '') +
    Buffer.byteLength(mail.html ?? '') +
    (mail.attachments ?? []).reduce((sum, a) => sum + base64Bytes(a.content), 0)
  );
}
