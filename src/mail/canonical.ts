// One spelling per mail, so an Idempotency-Key repeat is recognised however the request was written:
// keys in any order, a single address or a list of one, "a@x" or { "address": "a@x" }, domains in any case.
import { createHash } from 'node:crypto';
import type { Envelope } from './envelope';
import { listOf, type Address, type MailRequest } from './mail-request';

function canonicalAddress(address: Address): { address: string; name?: string } {
  const { name, address: spec } = typeof address === 'string' ? { name: undefined, address } : address;
  const at = spec.lastIndexOf('@');
  const normalised = `${spec.slice(0, at)}@${spec.slice(at + 1).toLowerCase()}`;
  return name ? { address: normalised, name } : { address: normalised };
}

/** JSON with keys sorted at every level; undefined members left out, as JSON.stringify does. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${sortedJson((value as Record<string, unknown>)[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Hashed a slice at a time, so a large attachment is never copied whole into a byte buffer. */
function digest(text: string): string {
  const hash = createHash('sha256');
  for (let at = 0; at < text.length; at += 1024 * 1024) hash.update(text.slice(at, at + 1024 * 1024));
  return hash.digest('hex');
}

/** A hash of what the mail says, not how it was written. `mail.from` must already hold the effective sender. */
export function mailFingerprint(mail: MailRequest): string {
  const lists = (['to', 'cc', 'bcc', 'replyTo'] as const).map(
    (field) => [field, listOf<Address>(mail[field]).map(canonicalAddress)] as const,
  );
  const headers = mail.headers
    ? Object.fromEntries(Object.entries(mail.headers).map(([name, value]) => [name.toLowerCase(), value]))
    : undefined;
  const canonical = {
    ...mail,
    from: mail.from ? canonicalAddress(mail.from) : undefined,
    ...Object.fromEntries(lists.filter(([, list]) => list.length > 0)),
    headers,
    importance: mail.importance === 'normal' ? undefined : mail.importance,
    sendAt: mail.sendAt ? new Date(mail.sendAt).toISOString() : undefined,
    // Each attachment by its digest: serialising the content again would copy every large attachment.
    attachments: mail.attachments?.map((a) => ({ ...a, content: digest(a.content) })),
  };
  return createHash('sha256').update(sortedJson(canonical)).digest('hex');
}

/**
 * What makes a queue message the one recorded under its id: its id, its time and what it sends, however spelled;
 * not its trace context, which a requeued repeat may carry anew. The status record keeps it, so a message that
 * only borrows a known id is told apart from the record's own and cannot send, fail or close it.
 */
export function envelopeIdentity(envelope: Envelope): string {
  const { id, createdAt, mail, mailBlob, mime } = envelope;
  const identity = {
    id,
    createdAt: new Date(createdAt).toISOString(),
    mail: mail && mailFingerprint(mail),
    mailBlob,
    mime: mime && {
      ...mime,
      from: canonicalAddress(mime.from),
      to: mime.to.map(canonicalAddress),
      sendAt: mime.sendAt && new Date(mime.sendAt).toISOString(),
    },
  };
  return createHash('sha256').update(sortedJson(identity)).digest('hex');
}
