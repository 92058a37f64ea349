// The per-mailbox pace (pace.ts) shared by every instance of the app: the blob `<mailbox folder>/rate` holds the
// mailbox's schedule, window and day as one small JSON document, changed only by etag-guarded writes, so two
// instances can never be given the same turn or both fill the window's last place.
//
// Cost: one conditional write per change (a turn given, a send admitted, a slow send's end), no read while this
// process's copy of the etag is current (only another instance's write makes it stale: then one read more), and
// changes asked for while a write is on its way share the next one. A refusal this process can tell from its copy
// costs nothing. The document stays small whatever the limit or the backlog: a minute of 100 ms buckets, 25 hours,
// and one number for the schedule.
//
// A send that outlasts its assumed time must correct its end before anyone could leave it out, that is within a
// window of the assumed end less the furthest booking ahead (maxWait, at most half a window): track() records the
// real end when the send is over, and every third of a window while it lasts, an end a window ahead. (Assumes the instances' clocks
// agree to well under a second, as NTP-synced Azure hosts do, and that storage answers within a third of a
// minute; a longer outage in the middle of a slow send could let one more message into that minute.)
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import type { Logger } from '../logger';
import { mailboxFolder, storageError } from './blobs';
import * as pace from './pace';

export type { AdmitAnswer, HoldReason, ScheduleAnswer } from './pace';

export interface RateLimiter {
  /** A turn for a message that holds none; or, when the mailbox is held, until when. */
  schedule(mailbox: string, recipients: number): Promise<pace.ScheduleAnswer>;
  /** Admits a send, its turn having come: now, or at the window's first place within maxWait, booked and waited for. */
  admit(mailbox: string, recipients: number): Promise<pace.AdmitAnswer>;
  /** Runs an admitted send, correcting its end in the window if it takes longer than assumed. */
  track<T>(mailbox: string, end: number, send: () => Promise<T>): Promise<T>;
  /** The server refused with its daily quota: hold the mailbox until `until`. */
  hold(mailbox: string, until: number): Promise<void>;
}

export interface RateLimiterOptions {
  container: ContainerClient;
  maxPerMinute: number;
  maxRecipientsPerDay: number;
  /** How long a send is assumed to take to reach the server; a longer one costs one more write. */
  assumedSendMs?: number;
  maxWaitMs?: number;
  /** Exchange's minute, unless a test or benchmark runs faster with the same ratios. */
  windowMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: Pick<Logger, 'warn'>;
}

const MAX_CONFLICTS = 20;
/** An end recorded this much later than the send was over is brought back, so the window frees sooner. */
const EARLY_END_MS = 5_000;

type Change<R> = (state: pace.PaceState, now: number) => R;

interface Pending {
  change: Change<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface MailboxState {
  blob: BlockBlobClient;
  /** The document as this process last read or wrote it; etag undefined while the blob does not exist. */
  known?: { state: pace.PaceState; etag?: string };
  pending: Pending[];
  flushing: boolean;
}

export class PaceContentionError extends Error {
  override name = 'PaceContentionError';
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { container, now = Date.now, sleep = defaultSleep, log = console } = options;
  const limits: pace.PaceLimits = {
    maxPerMinute: options.maxPerMinute,
    maxRecipientsPerDay: options.maxRecipientsPerDay,
    assumedSendMs: options.assumedSendMs ?? 1_000,
    maxWaitMs: options.maxWaitMs ?? 5_000,
    windowMs: options.windowMs ?? pace.WINDOW_MS,
  };
  if (!Number.isInteger(limits.maxPerMinute) || limits.maxPerMinute < 1)
    throw new RangeError(`maxPerMinute must be a whole number ≥ 1, got ${limits.maxPerMinute}`);
  if (!Number.isInteger(limits.maxRecipientsPerDay) || limits.maxRecipientsPerDay < 1)
    throw new RangeError(`maxRecipientsPerDay must be a whole number ≥ 1, got ${limits.maxRecipientsPerDay}`);
  if (!(limits.maxWaitMs >= 0 && limits.maxWaitMs <= 20_000)) throw new RangeError(`maxWaitMs must be 0–20,000, got ${limits.maxWaitMs}`);
  // A place is booked up to maxWait ahead: the ends of sends in progress must still be true that far (track() renews
  // them a window ahead every third of one), so a booking stays within half a window (a shortened window in tests).
  limits.maxWaitMs = Math.min(limits.maxWaitMs, limits.windowMs / 2);
  const mailboxes = new Map<string, MailboxState>();

  const stateOf = (mailbox: string) => {
    const key = mailboxFolder(mailbox);
    let state = mailboxes.get(key);
    if (!state) mailboxes.set(key, (state = { blob: container.getBlockBlobClient(`${key}/rate`), pending: [], flushing: false }));
    return state;
  };

  /** Applies a change to the mailbox's document; changes asked for in the same tick share one write. */
  function change<R>(mailbox: string, fn: Change<R>): Promise<R> {
    const state = stateOf(mailbox);
    return new Promise<R>((resolve, reject) => {
      state.pending.push({ change: fn, resolve, reject });
      if (!state.flushing) {
        state.flushing = true;
        queueMicrotask(() => void flush(state));
      }
    });
  }

  async function flush(state: MailboxState): Promise<void> {
    try {
      while (state.pending.length > 0) {
        const batch = state.pending.splice(0);
        try {
          const results = await apply(state, batch);
          batch.forEach((p, i) => p.resolve(results[i]));
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      state.flushing = false;
    }
  }

  async function apply(state: MailboxState, batch: Pending[]): Promise<unknown[]> {
    for (let conflict = 0; conflict < MAX_CONFLICTS; conflict++) {
      const known = state.known ?? (state.known = await read(state.blob));
      const draft = structuredClone(known.state);
      const t = now();
      const results = batch.map((p) => p.change(draft, t));
      // Nothing changed, nothing to write: a refusal costs no request while this process's copy is current.
      if (JSON.stringify(draft) === JSON.stringify(known.state)) return results;
      const etag = await write(state.blob, draft, known.etag);
      if (etag) {
        state.known = { state: draft, etag };
        return results;
      }
      state.known = undefined; // another instance wrote meanwhile: read its document and apply the changes again
    }
    throw new PaceContentionError(`the mailbox's pace changed ${MAX_CONFLICTS} times while this process tried to write it`);
  }

  const moveEnd = (mailbox: string, from: number, to: number) => change(mailbox, (s) => pace.moveEnd(s, from, to, limits));
  // The first renewal comes before the assumed end is a window old, the next ones long before theirs.
  const heartbeatMs = limits.windowMs / 3;

  return {
    schedule: (mailbox, recipients) => change(mailbox, (s, t) => pace.schedule(s, recipients, limits, t)),

    async admit(mailbox, recipients) {
      const answer = await change(mailbox, (s, t) => pace.admit(s, recipients, limits, t));
      // A booked place: waited for here, in process; the send starts no earlier.
      if (answer.ok && answer.at > now()) await sleep(answer.at - now());
      return answer;
    },

    async track(mailbox, end, send) {
      let recorded = end;
      let updating: Promise<void> = Promise.resolve();
      const record = (to: number) => {
        const from = recorded;
        recorded = to;
        updating = updating
          .then(() => moveEnd(mailbox, from, to))
          .catch((error: Error) => log.warn(`Rate limiter: a send's end could not be recorded: ${error.message}`));
      };
      const timer = setInterval(() => record(now() + limits.windowMs), heartbeatMs);
      timer.unref();
      try {
        return await send();
      } finally {
        clearInterval(timer);
        const over = now();
        if (over > recorded || recorded - over > EARLY_END_MS) record(over);
        await updating;
      }
    },

    hold: (mailbox, until) => change(mailbox, (s) => pace.hold(s, until)),
  };
}

async function read(blob: BlockBlobClient): Promise<{ state: pace.PaceState; etag?: string }> {
  let response;
  try {
    response = await blob.download();
  } catch (error) {
    if (storageError(error).code === 'BlobNotFound') return { state: pace.emptyPace() };
    throw error;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of response.readableStreamBody!) chunks.push(Buffer.from(chunk));
  return { state: pace.parsePace(Buffer.concat(chunks).toString('utf8')), etag: response.etag };
}

/** The new etag; undefined when another instance changed (412) or created (409) the document since we read it. */
async function write(blob: BlockBlobClient, state: pace.PaceState, etag: string | undefined): Promise<string | undefined> {
  const body = JSON.stringify(state);
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
