import { customHeaderBytes, type MailRequest } from './mail-request';

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
