// What the sandbox's SMTP server received, parsed for the inbox page, with each message's request status
// (looked up by its Message-ID <id@domain>) kept current while someone is watching.
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import type { ReceivedMessage } from '../smtp-sink';
import type { StatusView } from '../../src/status/status-view';
import type { ReceivedCallback } from '../callback-receiver';

export interface AttachmentInfo {
  index: number;
  filename: string;
  contentType: string;
  size: number;
  inline: boolean;
}

/** What the list shows of a message. Everything in it comes from the mail: the page treats it as text. */
export interface MessageSummary {
  n: number;
  receivedAt: string;
  from: string;
  to: string;
  subject: string;
  messageId?: string;
  envelope: { mailFrom: string; rcptTo: string[] };
  hasHtml: boolean;
  attachments: AttachmentInfo[];
  /** The request's status record as GET /api/mail/{id} shows it; null when no record is known (yet). */
  status: StatusView | null;
}

export interface MessageDetail extends MessageSummary {
  text: string;
  /** The header lines as received (folded lines kept). */
  headers: string[];
}

/** What the page shows of a callback the local receiver got: the event's headline and whether its signature held. */
export interface CallbackSummary {
  receivedAt: string;
  type: string;
  subject: string;
  webhookId: string;
  verified: boolean;
  answered: number;
  detail?: string;
}

export type InboxEvent =
  | { type: 'mail'; message: MessageSummary }
  | { type: 'status'; n: number; status: StatusView | null }
  | { type: 'callback'; callback: CallbackSummary };

interface Entry {
  summary: MessageSummary;
  parsed: ParsedMail;
  raw: Buffer;
  /** Status lookups left before giving up on a message whose record does not turn up. */
  lookupsLeft: number;
}

export type StatusLookup = (id: string) => Promise<StatusView | undefined>;

export interface Inbox {
  /** Parses and keeps a received message, then tells the watchers. */
  add(message: ReceivedMessage): Promise<void>;
  list(): MessageSummary[];
  detail(n: number): MessageDetail | undefined;
  html(n: number): string | undefined;
  attachment(n: number, index: number): { filename: string; content: Buffer } | undefined;
  raw(n: number): Buffer | undefined;
  /** Keeps a callback the local receiver got, then tells the watchers. */
  addCallback(callback: ReceivedCallback): void;
  callbacks(): CallbackSummary[];
  /** Events from now on; returns the unsubscribe function. Status lookups run while anyone watches. */
  watch(listener: (event: InboxEvent) => void): () => void;
  close(): void;
}

const FINAL = new Set(['sent', 'failed']);
const LOOKUP_INTERVAL_MS = 500;
const MAX_LOOKUPS = 120; // a minute of lookups for a message whose status is not final
const MAX_MESSAGES = 500;

/** "<order-4711@contoso.com>" → "order-4711": the app derives the Message-ID from the request id. */
export function requestIdOf(messageId: string | undefined): string | undefined {
  return /^<([A-Za-z0-9._-]{1,100})@[^>]+>$/.exec(messageId?.trim() ?? '')?.[1];
}

const addresses = (value: AddressObject | AddressObject[] | undefined) =>
  Array.isArray(value) ? value.map((a) => a.text).join(', ') : (value?.text ?? '');

export function createInbox(lookup: StatusLookup): Inbox {
  const entries: Entry[] = [];
  const callbacks: CallbackSummary[] = [];
  const listeners = new Set<(event: InboxEvent) => void>();
  let next = 1;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const emit = (event: InboxEvent) => {
    for (const listener of listeners) listener(event);
  };
  const find = (n: number) => entries.find((e) => e.summary.n === n);

  const refresh = async (entry: Entry): Promise<void> => {
    const id = requestIdOf(entry.summary.messageId);
    if (!id || entry.lookupsLeft <= 0 || (entry.summary.status && FINAL.has(entry.summary.status.status))) return;
    entry.lookupsLeft--;
    let status: StatusView | null;
    try {
      status = (await lookup(id)) ?? null;
    } catch {
      return; // storage hiccup: the next round tries again
    }
    if (JSON.stringify(status) === JSON.stringify(entry.summary.status)) return;
    entry.summary.status = status;
    emit({ type: 'status', n: entry.summary.n, status });
  };
  const tick = async () => {
    timer = undefined;
    await Promise.all(entries.map(refresh));
    if (!closed && listeners.size > 0) schedule();
  };
  const schedule = () => {
    if (!timer && !closed) timer = setTimeout(() => void tick(), LOOKUP_INTERVAL_MS).unref();
  };

  return {
    async add(message) {
      const parsed = await simpleParser(message.raw);
      const summary: MessageSummary = {
        n: next++,
        receivedAt: new Date(message.receivedAt).toISOString(),
        from: addresses(parsed.from),
        to: [addresses(parsed.to), addresses(parsed.cc)].filter(Boolean).join(', '),
        subject: parsed.subject ?? '',
        messageId: message.messageId,
        envelope: { mailFrom: message.mailFrom, rcptTo: [...message.rcptTo] },
        hasHtml: parsed.html !== false,
        attachments: parsed.attachments.map((a, index) => ({
          index,
          filename: a.filename ?? `attachment-${index + 1}`,
          contentType: a.contentType,
          size: a.size,
          inline: a.related === true,
        })),
        status: null,
      };
      const entry: Entry = { summary, parsed, raw: message.raw, lookupsLeft: MAX_LOOKUPS };
      entries.push(entry);
      if (entries.length > MAX_MESSAGES) entries.shift();
      await refresh(entry);
      emit({ type: 'mail', message: summary });
      if (listeners.size > 0) schedule();
    },
    list: () => entries.map((e) => e.summary),
    detail(n) {
      const entry = find(n);
      if (!entry) return undefined;
      return { ...entry.summary, text: entry.parsed.text ?? '', headers: entry.parsed.headerLines.map((h) => h.line) };
    },
    html(n) {
      const html = find(n)?.parsed.html;
      return typeof html === 'string' ? html : undefined;
    },
    attachment(n, index) {
      const found = find(n)?.parsed.attachments[index];
      return found && { filename: found.filename ?? `attachment-${index + 1}`, content: found.content };
    },
    raw: (n) => find(n)?.raw,
    addCallback(received) {
      const callback: CallbackSummary = {
        receivedAt: received.receivedAt,
        type: received.event?.type ?? '',
        subject: received.event?.subject ?? '',
        webhookId: received.webhookId,
        verified: received.verified,
        answered: received.answered,
        ...(received.detail ? { detail: received.detail } : {}),
      };
      callbacks.push(callback);
      if (callbacks.length > MAX_MESSAGES) callbacks.shift();
      emit({ type: 'callback', callback });
    },
    callbacks: () => [...callbacks],
    watch(listener) {
      listeners.add(listener);
      schedule();
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      clearTimeout(timer);
      listeners.clear();
    },
  };
}
