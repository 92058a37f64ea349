// What the worker asks of the governor before it claims a message: when the message may go (a turn in its
// mailbox's pace, or until when the mailbox or its tenant is held), and, after a quota refusal from Exchange,
// to hold the mailbox or pause the tenant.
import type { RateLimiter, ScheduleAnswer } from './rate-limiter';
import type { TenantPause } from './tenant-pause';

export type PacingAnswer = ScheduleAnswer | { ok: false; at: number; reason: 'tenant-rate-limit' };

export interface Pacing {
  schedule(mailbox: string, recipients: number): Promise<PacingAnswer>;
  /** Exchange refused for a quota: the mailbox's daily one, or the tenant's external recipient limit (all its mailboxes). */
  hold(mailbox: string, reason: 'daily-quota' | 'tenant-rate-limit', until: number): Promise<void>;
}

export function createPacing(rate: RateLimiter, tenant: TenantPause, now: () => number = Date.now): Pacing {
  return {
    async schedule(mailbox, recipients) {
      const paused = await tenant.until();
      if (paused > now()) return { ok: false, at: paused, reason: 'tenant-rate-limit' };
      return rate.schedule(mailbox, recipients);
    },
    hold: (mailbox, reason, until) => (reason === 'tenant-rate-limit' ? tenant.pause(until) : rate.hold(mailbox, until)),
  };
}
