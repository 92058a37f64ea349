// Messages per minute per mailbox, shared by every instance of the app, as an even pace (GCRA, the virtual
// scheduling form of a token bucket): the blob `<mailbox folder>/rate` holds one number, the theoretical arrival
// time `tat` of the mailbox's next turn. Taking a turn moves it on by `interval`, by an etag-guarded write, so
// two instances can never be given the same turn. A turn may lie a little ahead (up to maxWaitMs): the caller
// waits for it in process instead of deferring the message. Nothing is recorded when a send ends, so a sender
// that dies leaves nothing behind: it has used up one turn.
//
// Why interval = window / (maxPerMinute − maxInFlight): take any minute [x, x + window) at the server and the
// messages it receives. A message is never sent before its turn, so those whose turn is in that minute number at
// most window / interval = maxPerMinute − maxInFlight. The others had their turn before x and were still being
// sent at x; each holds one of the mailbox's connections (one send at a time per connection) from before its
// reservation to its end, so there are at most maxInFlight of them, however slow. That makes at most maxPerMinute.
// (Assumes the instances' clocks agree, as NTP-synced Azure hosts do to well under a second. A slot lease lost in
// the middle of a send, its renewals failing for a whole lease period, could let one more in.)
//
// Cost: one conditional write per turn, no read while this process's copy of the etag is current (only another
// instance's turn makes it stale: then one read more), whatever the limit; reservations made while a write is on
// its way share the next one, and so do the turns due within SPARE_MS; a refusal this process can already tell
// from its copy costs nothing.
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { mailboxFolder, storageError } from './blobs';

export type ReserveResult = { ok: true; turnAt: number } | { ok: false; retryAfterMs: number };

export interface RateLimiter {
  /** A turn in the mailbox's pace, waited for; or, when the next free one is too far ahead, how long until it is not. */
  tryReserve(mailbox: string): Promise<ReserveResult>;
}

export interface RateLimiterOptions {
  container: ContainerClient;
  maxPerMinute: number;
  /** How many sends of one mailbox can be under way at once across all instances: its connection slots. */
  maxInFlight: number;
  windowMs?: number;
  /** The longest a caller waits in process for its turn; a later turn is refused. */
  maxWaitMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const MAX_CONFLICTS = 20;
/**
 * A write also takes the turns that fall within this much of now, for the next callers of this process: at high
 * limits (10,000/min is a turn every 6 ms) one write serves several sends. A turn not used by its time is lost,
 * so at most this much of the pace goes unused when sending stops; at 30/min (a turn every 2 s) none is taken.
 */
const SPARE_MS = 50;

interface Pace {
  tat: number;
  /** Undefined while the blob does not exist yet. */
  etag?: string;
}

type Answer = { turnAt: number } | { retryAfterMs: number };

interface Waiter {
  resolve(answer: Answer): void;
  reject(error: unknown): void;
}

interface MailboxPace {
  blob: BlockBlobClient;
  /** The pace as this process last read or wrote it. */
  known?: Pace;
  /** Turns this process took ahead, in order, for its next callers. */
  spare: number[];
  waiting: Waiter[];
  flushing: boolean;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { container, maxPerMinute, maxInFlight, windowMs = 60_000, maxWaitMs = 5_000, now = Date.now, sleep = defaultSleep } = options;
  if (!Number.isInteger(maxPerMinute) || maxPerMinute < 1)
    throw new RangeError(`maxPerMinute must be a whole number ≥ 1, got ${maxPerMinute}`);
  if (!Number.isInteger(maxInFlight) || maxInFlight < 0) throw new RangeError(`maxInFlight must be a whole number ≥ 0, got ${maxInFlight}`);
  if (maxPerMinute <= maxInFlight) {
    throw new RangeError(
      `the messages per minute (${maxPerMinute}) must exceed the connections per mailbox (${maxInFlight}): each connection may carry one message from one minute into the next`,
    );
  }
  const interval = windowMs / (maxPerMinute - maxInFlight);
  const mailboxes = new Map<string, MailboxPace>();

  /** Hands out turns to everyone waiting, in batches: each batch is one etag-guarded write (plus a read when stale). */
  async function flush(state: MailboxPace): Promise<void> {
    try {
      while (state.waiting.length > 0) {
        const batch = state.waiting.splice(0);
        try {
          const answers = await takeTurns(state, batch.length);
          batch.forEach((waiter, i) => waiter.resolve(answers[i]));
        } catch (error) {
          for (const waiter of batch) waiter.reject(error);
        }
      }
    } finally {
      state.flushing = false;
    }
  }

  /** A turn for each of `count` callers in order, or for those whose turn would be too far ahead, when to come back. */
  async function takeTurns(state: MailboxPace, count: number): Promise<Answer[]> {
    for (let conflict = 0; conflict < MAX_CONFLICTS; conflict++) {
      const pace = state.known ?? (state.known = await readPace(state.blob));
      const t = now();
      const turns: number[] = [];
      let next = Math.max(pace.tat, t);
      while (turns.length < count && next - t <= maxWaitMs) {
        turns.push(next);
        next += interval;
      }
      const refused: Answer = { retryAfterMs: Math.max(1, Math.ceil(next - t - maxWaitMs)) };
      const answers = (): Answer[] => Array.from({ length: count }, (_, i) => (i < turns.length ? { turnAt: turns[i] } : refused));
      // Nothing granted, nothing to write: a refusal costs no request while this process's copy is current.
      if (turns.length === 0) return answers();
      const spare: number[] = [];
      while (next - t <= Math.min(SPARE_MS, maxWaitMs)) {
        spare.push(next);
        next += interval;
      }
      const etag = await writePace(state.blob, next, pace.etag);
      if (etag) {
        state.known = { tat: next, etag };
        state.spare.push(...spare);
        return answers();
      }
      state.known = undefined; // another instance took a turn meanwhile: read its pace and try again
    }
    return Array.from({ length: count }, () => ({ retryAfterMs: 100 + Math.floor(Math.random() * 400) }));
  }

  /** A turn taken ahead that is still to come; one already past is lost, as it would be sent after its time. */
  function takeSpare(state: MailboxPace): Answer | undefined {
    const t = now();
    while (state.spare.length > 0 && state.spare[0] < t) state.spare.shift();
    const turn = state.spare.shift();
    return turn === undefined ? undefined : { turnAt: turn };
  }

  return {
    async tryReserve(mailbox) {
      const key = mailboxFolder(mailbox);
      let state = mailboxes.get(key);
      if (!state)
        mailboxes.set(key, (state = { blob: container.getBlockBlobClient(`${key}/rate`), spare: [], waiting: [], flushing: false }));
      const mine = state;
      const answer =
        takeSpare(mine) ??
        (await new Promise<Answer>((resolve, reject) => {
          mine.waiting.push({ resolve, reject });
          // Started a microtask later, so reservations made in the same tick share one write.
          if (!mine.flushing) {
            mine.flushing = true;
            queueMicrotask(() => void flush(mine));
          }
        }));
      if ('retryAfterMs' in answer) return { ok: false, retryAfterMs: answer.retryAfterMs };
      const wait = answer.turnAt - now();
      if (wait > 0) await sleep(wait);
      return { ok: true, turnAt: answer.turnAt };
    },
  };
}

async function readPace(blob: BlockBlobClient): Promise<Pace> {
  let response;
  try {
    response = await blob.download();
  } catch (error) {
    if (storageError(error).code === 'BlobNotFound') return { tat: 0 };
    throw error;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of response.readableStreamBody!) chunks.push(Buffer.from(chunk));
  return { tat: parseTat(Buffer.concat(chunks).toString('utf8')), etag: response.etag };
}

/** An unreadable pace is replaced by the next write rather than blocking the mailbox for good. */
function parseTat(text: string): number {
  try {
    const { tat } = JSON.parse(text) as { tat?: unknown };
    return typeof tat === 'number' && Number.isFinite(tat) ? tat : 0;
  } catch {
    return 0;
  }
}

/** The new etag; undefined when another instance changed (412) or created (409) the pace since we read it. */
async function writePace(blob: BlockBlobClient, tat: number, etag: string | undefined): Promise<string | undefined> {
  const body = JSON.stringify({ tat });
  try {
    const response = await blob.upload(body, Buffer.byteLength(body), {
      conditions: etag ? { ifMatch: etag } : { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
    return response.etag;
  } catch (error) {
    const status = storageError(error).status;
    if (status === 412 || status === 409) return undefined;
    throw error;
  }
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
