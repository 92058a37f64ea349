// How long to wait and when to give up: the retry policy, and what it says about one failed attempt.
import type { Failure } from './classify-failure';

export interface DeliveryPolicy {
  /** SMTP attempts before a temporary failure becomes final. */
  maxAttempts: number;
  /** How long a worker's claim on a message lasts; a crashed worker's claim lapses after it. */
  claimMs: number;
  /** Delay before the next attempt after `attempts` temporary failures. */
  backoffMs(attempts: number): number;
  /** Delay after a quota reply (daily recipient limit is a rolling 24 h). */
  quotaDeferMs: number;
  /** Give up on deferrals (quota, throttling) once the message is this old. */
  maxAgeMs: number;
  /** A turn this close is waited for in process; a later one sends the message back to the queue until just before it. */
  maxTurnWaitMs: number;
}

export const DEFAULT_POLICY: DeliveryPolicy = {
  maxAttempts: 8,
  claimMs: 5 * 60_000,
  // 30 s, 1 min, 2 min … capped at 30 min, with ±20 % jitter so retries of a burst spread out.
  backoffMs: (attempts) => Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 30 * 60_000) * (0.8 + Math.random() * 0.4),
  quotaDeferMs: 60 * 60_000,
  maxAgeMs: 48 * 60 * 60_000,
  maxTurnWaitMs: 5_000,
};

export type FailureDecision = { final: true; hint: string } | { final: false; delayMs: number; attempts: number };

/** After the `attempts`-th attempt failed on a message `ageMs` old: fail it now, or try again after a delay. */
export function decideFailure(failure: Failure, attempts: number, ageMs: number, policy: DeliveryPolicy): FailureDecision {
  const tooOld = ageMs > policy.maxAgeMs && failure.kind !== 'temporary';
  const outOfAttempts = failure.kind === 'temporary' && attempts >= policy.maxAttempts;
  if (failure.kind === 'permanent' || outOfAttempts || tooOld) {
    if (outOfAttempts) return { final: true, hint: `Gave up after ${attempts} attempts. ${failure.hint}` };
    if (failure.kind === 'permanent') return { final: true, hint: failure.hint };
    return { final: true, hint: `Still deferred after ${Math.round(policy.maxAgeMs / 3_600_000)} h. ${failure.hint}` };
  }
  const delayMs =
    failure.kind === 'quota'
      ? policy.quotaDeferMs
      : failure.kind === 'throttled'
        ? throttledDelayMs(failure.category, failure.retryAfterMs ?? 5_000)
        : policy.backoffMs(attempts);
  // Deferrals for quota and throttling give the attempt back: they say nothing about the message.
  return { final: false, delayMs, attempts: failure.kind === 'temporary' ? attempts : attempts - 1 };
}

/**
 * Our governor's own wait. The pace and the daily limit name the time exactly; a connection slot has no time of its
 * own, so up to half more (at most 5 s) brings messages refused together back apart.
 */
function throttledDelayMs(category: string, retryAfterMs: number): number {
  return category === 'connection-slots' ? retryAfterMs + Math.random() * Math.min(retryAfterMs / 2, 5_000) : retryAfterMs;
}
