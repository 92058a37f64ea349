// One mailbox's limits as a small shared state and the pure rules that change it (the storage side is in
// rate-limiter.ts). Three parts, all per mailbox:
//
// - The schedule (`next`): the next turn not yet given out. A message that cannot go now takes the next turn and
//   waits for it on the queue, once; turns are `spacing` apart, so a backlog leaves as an even pace.
// - The window (`ends`): every send admitted in the last minute or so, by the latest time it can reach the server
//   (its end), in 100 ms buckets. A send is admitted for a start s (now, or a place booked at most maxWait ahead)
//   only while fewer than maxPerMinute ends, booked ones included, lie after s − 60 s; it starts no earlier than s.
//   Proof that no 60 s window [x, x + 60 s) at the server receives more: let m be the last admitted of the messages
//   the server receives in it. Each other one, k, was admitted before m and reached the server at
//   r_k ≥ x > s_m − 60 s (as s_m ≤ r_m < x + 60 s), so its end ≥ r_k was counted when m was admitted; fewer than
//   maxPerMinute were, so the window holds at most maxPerMinute. This holds for slow and fast sends alike, as long
//   as each end is true: a send is assumed to reach the server within `assumedSendMs` of its start, and one that
//   takes longer records its real end (or, while it lasts, an end a minute ahead) well before anyone could leave it
//   out, a booking's maxWait ahead included (see rate-limiter.ts). Ends need no connection count, so the pace can
//   come close to the limit.
// - The day (`day`): recipients per hour; a send is admitted only while the last 24 hours (counted in whole hours,
//   so up to one hour longer) leave room for its recipients.
//
// The schedule spaces turns a little wider than the window needs (the assumed send time, a bucket and some slack
// per minute), so a message that comes back at its turn normally finds the window open.

export const WINDOW_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Ends are counted in buckets of this part of the window (100 ms of a minute). */
const BUCKETS_PER_WINDOW = 600;
/** Per window of turns, this part more: lets a late send's delay fade instead of passing it on a window later. */
const SLACK = 1 / 300;

export interface PaceState {
  /** The schedule: the next turn not given out yet (ms since the epoch). */
  next: number;
  /** The window: admitted sends by bucket of their end (key: end / bucket length, rounded up). */
  ends: Record<string, number>;
  /** Recipients of admitted sends by hour (key: hours since the epoch). */
  day: Record<string, number>;
  /** Nothing is admitted before this: the server refused with its daily quota, which this app's count did not see. */
  holdUntil?: number;
}

export interface PaceLimits {
  maxPerMinute: number;
  maxRecipientsPerDay: number;
  /** How long a send is assumed to take from admission to the server; a longer one records its real end. */
  assumedSendMs: number;
  /** The longest a message waits in process for its turn; a later turn sends it back to the queue. */
  maxWaitMs: number;
  /** The window the limit counts in: Exchange's minute (shorter only to run tests and benchmarks faster). */
  windowMs: number;
}

export type HoldReason = 'rate-limit' | 'daily-recipient-limit' | 'daily-quota';

export type ScheduleAnswer =
  /** The message's turn: within maxWait, wait for it; later, come back then (the turn stays the message's). */
  | { ok: true; at: number }
  /** Held until `at` without a turn: it asks again then. */
  | { ok: false; at: number; reason: HoldReason };

/** Admitted: the send starts at `at` (now, or a booked place within maxWait) and is assumed over by `end`. */
export type AdmitAnswer = { ok: true; at: number; end: number } | { ok: false; at: number; reason: HoldReason };

export const emptyPace = (): PaceState => ({ next: 0, ends: {}, day: {} });

const bucketMs = (limits: Pick<PaceLimits, 'windowMs'>) => limits.windowMs / BUCKETS_PER_WINDOW;

/** How far apart turns are: a window of them, plus what each admission may add to the window. */
export function spacing(limits: Pick<PaceLimits, 'maxPerMinute' | 'assumedSendMs' | 'windowMs'>): number {
  return (limits.windowMs * (1 + SLACK) + limits.assumedSendMs + bucketMs(limits)) / limits.maxPerMinute;
}

/** Forgets what can no longer count at `now` or later. */
export function prune(state: PaceState, limits: Pick<PaceLimits, 'windowMs'>, now: number): void {
  const bucket = bucketMs(limits);
  for (const key of Object.keys(state.ends)) if (Number(key) * bucket <= now - limits.windowMs) delete state.ends[key];
  for (const key of Object.keys(state.day)) if ((Number(key) + 1) * HOUR_MS <= now - DAY_MS) delete state.day[key];
  if (state.holdUntil !== undefined && state.holdUntil <= now) delete state.holdUntil;
}

/**
 * A turn for a message with `recipients` recipients that holds none yet: the next one in the schedule, or when it
 * may ask again if the mailbox is held (daily limit). Moves the schedule on when it gives a turn.
 */
export function schedule(state: PaceState, recipients: number, limits: PaceLimits, now: number): ScheduleAnswer {
  prune(state, limits, now);
  const held = holdOf(state, recipients, limits, now);
  if (held) return held;
  const at = Math.max(now, state.next);
  state.next = at + spacing(limits);
  return { ok: true, at };
}

/**
 * Admits a send at `now` (its turn has come): books it the first place the window has from now, counting it in the
 * window and the day, or says when to try again. A place within maxWait is booked at once, so the send waits for it
 * in process and need not ask again: asking again after the wait would come a storage write late and pass that
 * delay on to the send a window later, and so on down a long backlog. A later place also moves the schedule past
 * it, so later turns do not keep arriving at a full window.
 */
export function admit(state: PaceState, recipients: number, limits: PaceLimits, now: number): AdmitAnswer {
  prune(state, limits, now);
  const held = holdOf(state, recipients, limits, now);
  if (held) return held;
  const at = windowFreeAt(state.ends, limits, now);
  if (at - now > limits.maxWaitMs) {
    state.next = Math.max(state.next, at + spacing(limits));
    return { ok: false, at, reason: 'rate-limit' };
  }
  const end = at + limits.assumedSendMs;
  addEnd(state, end, limits);
  const hour = String(Math.floor(at / HOUR_MS));
  state.day[hour] = (state.day[hour] ?? 0) + recipients;
  return { ok: true, at, end };
}

/** A send's end moves (it took longer than assumed, or is over sooner than its last extension said). */
export function moveEnd(state: PaceState, from: number, to: number, limits: Pick<PaceLimits, 'windowMs'>): void {
  const old = bucketOf(from, limits);
  if (old === bucketOf(to, limits)) return;
  if ((state.ends[old] ?? 0) > 0) {
    state.ends[old]--;
    if (state.ends[old] === 0) delete state.ends[old];
  }
  addEnd(state, to, limits);
}

/** The server refused with its daily quota: nothing more is sent from the mailbox until `until`. */
export function hold(state: PaceState, until: number): void {
  state.holdUntil = Math.max(state.holdUntil ?? 0, until);
}

function holdOf(state: PaceState, recipients: number, limits: PaceLimits, now: number): Extract<ScheduleAnswer, { ok: false }> | undefined {
  if (state.holdUntil !== undefined && state.holdUntil > now) return { ok: false, at: state.holdUntil, reason: 'daily-quota' };
  const dayFree = dayFreeAt(state.day, recipients, limits.maxRecipientsPerDay, now);
  return dayFree > now ? { ok: false, at: dayFree, reason: 'daily-recipient-limit' } : undefined;
}

const bucketOf = (end: number, limits: Pick<PaceLimits, 'windowMs'>) => String(Math.ceil(end / bucketMs(limits)));

function addEnd(state: PaceState, end: number, limits: Pick<PaceLimits, 'windowMs'>): void {
  const key = bucketOf(end, limits);
  state.ends[key] = (state.ends[key] ?? 0) + 1;
}

/** The earliest time from `now` at which fewer than the limit's ends lie within the last window. */
export function windowFreeAt(ends: Record<string, number>, limits: Pick<PaceLimits, 'windowMs' | 'maxPerMinute'>, now: number): number {
  const counted = Object.entries(ends)
    .map(([key, n]) => ({ end: Number(key) * bucketMs(limits), n }))
    .filter(({ end }) => end > now - limits.windowMs)
    .sort((a, b) => a.end - b.end);
  let excess = counted.reduce((sum, { n }) => sum + n, 0) - limits.maxPerMinute + 1;
  if (excess <= 0) return now;
  for (const { end, n } of counted) {
    excess -= n;
    if (excess <= 0) return end + limits.windowMs;
  }
  return now; // unreachable: the counted ends add up to more than the excess
}

/**
 * The earliest time from `now` at which the last 24 hours leave room for `recipients` more. A message with more
 * recipients than the whole limit is not held for ever: it goes when the day is empty, and Exchange decides.
 */
export function dayFreeAt(day: Record<string, number>, recipients: number, limit: number, now: number): number {
  const hours = Object.entries(day)
    .map(([key, n]) => ({ hour: Number(key), n }))
    .filter(({ hour }) => (hour + 1) * HOUR_MS > now - DAY_MS)
    .sort((a, b) => a.hour - b.hour);
  let total = hours.reduce((sum, { n }) => sum + n, 0);
  if (total + recipients <= limit || total === 0) return now;
  for (const { hour, n } of hours) {
    total -= n;
    if (total + recipients <= limit || total === 0) return (hour + 1) * HOUR_MS + DAY_MS;
  }
  return now; // unreachable: the day empties at the latest after its last hour
}

/** The state as stored; anything unreadable becomes an empty pace rather than blocking the mailbox for good. */
export function parsePace(text: string): PaceState {
  try {
    const value = JSON.parse(text) as Partial<PaceState>;
    const counts = (x: unknown): Record<string, number> =>
      typeof x === 'object' && x !== null
        ? Object.fromEntries(
            Object.entries(x as Record<string, unknown>).filter(
              (e): e is [string, number] => /^\d+$/.test(e[0]) && typeof e[1] === 'number' && e[1] > 0,
            ),
          )
        : {};
    const time = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
    const state: PaceState = { next: time(value.next) ?? 0, ends: counts(value.ends), day: counts(value.day) };
    const holdUntil = time(value.holdUntil);
    if (holdUntil !== undefined) state.holdUntil = holdUntil;
    return state;
  } catch {
    return emptyPace();
  }
}
