// Messages per minute per mailbox, shared by every instance of the app: the blob `<mailbox folder>/rate` holds a
// log of recent sends, changed only by etag-guarded read-modify-write, so concurrent instances cannot both take
// the last place.
//
// Why entries are kept until doneAt + window, not reservedAt + window: Exchange receives a message at some moment
// between its reservation and its completion. Take any interval [a, a + window) at the server and the messages it
// receives in it; let T < a + window be the latest of their reservation times. Every other one was reserved at or
// before T and, if already done, done at or after a > T - window, so at T its entry was still in the log. The log
// was below maxPerMinute at T, so the interval holds at most maxPerMinute messages, however slow the sends.
// (Assumes the instances' clocks agree, as NTP-synced Azure hosts do to well under a second.)
import { randomUUID } from 'node:crypto';
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import type { Logger } from '../logger';
import { mailboxFolder, storageError } from './blobs';

export interface Reservation {
  /** Records that the send finished (or failed). Never rejects: on failure the entry counts until it goes stale. */
  complete(): Promise<void>;
}

export type ReserveResult = { ok: true; reservation: Reservation } | { ok: false; retryAfterMs: number };

export interface RateLimiter {
  /** A place in the mailbox's window, or how long to wait before one can come free. */
  tryReserve(mailbox: string): Promise<ReserveResult>;
}

export interface RateLimiterOptions {
  container: ContainerClient;
  maxPerMinute: number;
  windowMs?: number;
  now?: () => number;
  log?: Pick<Logger, 'warn'>;
}

interface LogEntry {
  id: string;
  reservedAt: number;
  doneAt?: number;
}

/** An entry never completed after this long belongs to a crashed sender. */
const STALE_MS = 10 * 60_000;
const MAX_CONFLICTS = 20;

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { container, maxPerMinute, windowMs = 60_000, now = Date.now, log = console } = options;
  if (!Number.isInteger(maxPerMinute) || maxPerMinute < 1) throw new RangeError(`maxPerMinute must be a whole number ≥ 1, got ${maxPerMinute}`);

  /** Entries that still count at time t. */
  const live = (entries: LogEntry[], t: number) =>
    entries.filter((e) => (e.doneAt === undefined ? e.reservedAt >= t - STALE_MS : e.doneAt >= t - windowMs));

  /** When enough entries will have expired for one more place; an in-progress entry expires a window after it completes, at the earliest. */
  const retryAfterMs = (entries: LogEntry[], t: number) => {
    const expiries = entries
      .map((e) => (e.doneAt === undefined ? Math.min(t, e.reservedAt + STALE_MS - windowMs) : e.doneAt) + windowMs + 1)
      .sort((a, b) => a - b);
    return Math.max(1, expiries[entries.length - maxPerMinute] - t);
  };

  /**
   * Read-modify-write of the log under its etag: `decide` sees the live entries and returns the log to write (or
   * none) with the result. Re-reads on a lost race; undefined after MAX_CONFLICTS of them.
   */
  async function update<T>(blob: BlockBlobClient, decide: (entries: LogEntry[], t: number) => { write?: LogEntry[]; result: T }): Promise<T | undefined> {
    for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts++) {
      const { entries, etag } = await readLog(blob);
      const t = now();
      const { write, result } = decide(live(entries, t), t);
      if (!write || (await writeLog(blob, write, etag))) return result;
      await sleep(Math.random() * 10 * (conflicts + 1)); // jitter, so the losers do not collide again in step
    }
    return undefined;
  }

  return {
    async tryReserve(mailbox) {
      const blob = container.getBlockBlobClient(`${mailboxFolder(mailbox)}/rate`);
      const id = randomUUID();
      const reservation: Reservation = {
        async complete() {
          try {
            const done = await update(blob, (entries, t) => {
              const entry = entries.find((e) => e.id === id);
              if (!entry || entry.doneAt !== undefined) return { result: true }; // gone stale, or already recorded
              return { write: entries.map((e) => (e === entry ? { ...e, doneAt: t } : e)), result: true };
            });
            if (!done) log.warn(`Rate limit log of ${mailbox} stayed contended; reservation ${id} counts until it goes stale.`);
          } catch (error) {
            log.warn(`Rate limit log of ${mailbox}: completing reservation ${id} failed, it counts until it goes stale: ${String(error)}`);
          }
        },
      };
      const result = await update<ReserveResult>(blob, (entries, t) => {
        // Our entry is there already when an SDK retry followed a write whose reply was lost.
        if (entries.some((e) => e.id === id)) return { result: { ok: true, reservation } };
        if (entries.length >= maxPerMinute) return { result: { ok: false, retryAfterMs: retryAfterMs(entries, t) } };
        return { write: [...entries, { id, reservedAt: t }], result: { ok: true, reservation } };
      });
      return result ?? { ok: false, retryAfterMs: 100 + Math.floor(Math.random() * 400) };
    },
  };
}

async function readLog(blob: BlockBlobClient): Promise<{ entries: LogEntry[]; etag?: string }> {
  let response;
  try {
    response = await blob.download();
  } catch (error) {
    if (storageError(error).code === 'BlobNotFound') return { entries: [] };
    throw error;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of response.readableStreamBody!) chunks.push(Buffer.from(chunk));
  return { entries: parseEntries(Buffer.concat(chunks).toString('utf8')), etag: response.etag };
}

/** An unreadable log is replaced on the next write rather than blocking the mailbox for good. */
function parseEntries(text: string): LogEntry[] {
  try {
    const { entries } = JSON.parse(text) as { entries?: unknown };
    return Array.isArray(entries) ? entries.filter((e): e is LogEntry => typeof (e as LogEntry)?.id === 'string' && typeof (e as LogEntry).reservedAt === 'number') : [];
  } catch {
    return [];
  }
}

/** False when another instance changed (412) or created (409) the log since we read it. */
async function writeLog(blob: BlockBlobClient, entries: LogEntry[], etag: string | undefined): Promise<boolean> {
  const body = JSON.stringify({ entries });
  try {
    await blob.upload(body, Buffer.byteLength(body), {
      conditions: etag ? { ifMatch: etag } : { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
    return true;
  } catch (error) {
    const status = storageError(error).status;
    if (status === 412 || status === 409) return false;
    throw error;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
