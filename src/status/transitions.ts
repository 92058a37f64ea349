// The status lifecycle: each change a message's record goes through, as the fields it sets and the ones it
// clears. A final record keeps no claim and no next attempt, so the status endpoint never shows a retry
// that will not come.
import type { RecipientOutcome, StatusRecord } from './status-store';

export type Changes = Partial<StatusRecord>;
export type Reply = Pick<StatusRecord, 'lastReplyCode' | 'lastReplyText'>;

const iso = (ms: number) => new Date(ms).toISOString();
const SETTLED = { claimUntil: undefined, nextAttemptAt: undefined, turnAt: undefined };

/** One worker takes the message until `untilMs` (a crashed worker's claim lapses then); counts an attempt. */
export function claim(record: StatusRecord, untilMs: number): Changes {
  return { status: 'sending', attempts: record.attempts + 1, claimUntil: iso(untilMs), nextAttemptAt: undefined, turnAt: undefined };
}

/** Back on the queue until `atMs`; `details` say why, and how many attempts to keep. */
export function defer(atMs: number, details: Changes = {}): Changes {
  return { turnAt: undefined, ...details, status: 'deferred', claimUntil: undefined, nextAttemptAt: iso(atMs) };
}

/** Waiting on the queue for its turn in the mailbox's pace, which it holds: it goes at `atMs` without asking again. */
export function paced(atMs: number): Changes {
  return defer(atMs, {
    turnAt: iso(atMs),
    errorCategory: 'rate-limit',
    hint: "Waiting for its turn in the sending mailbox's messages-per-minute pace; not an error.",
  });
}

/** Held without a turn until `atMs` (the mailbox's daily recipient limit, or a pause Exchange asked for). */
export function held(atMs: number, errorCategory: string, hint: string): Changes {
  return defer(atMs, { errorCategory, hint });
}

export function sent(outcome: Pick<StatusRecord, 'smtpMessageId' | 'accepted' | 'rejected'> & Reply): Changes {
  const someRejected = (outcome.rejected?.length ?? 0) > 0;
  // The errors of earlier attempts go: the record describes the send that worked.
  return { ...outcome, status: 'sent', errorCategory: someRejected ? 'some-recipients-rejected' : undefined, hint: undefined, ...SETTLED };
}

export function fail(errorCategory: string, hint: string, reply: Reply = {}): Changes {
  return { ...reply, status: 'failed', errorCategory, hint, ...SETTLED };
}

/** The host gave up on the message after repeated errors of our own dependencies. */
export function poison(error: Error & { code?: unknown }): Changes {
  // The storage SDKs put the service's reason (QueueNotFound, AuthorizationFailure) in `code`; their message may only
  // say "Unexpected status code: 404".
  const code = typeof error.code === 'string' && !error.message.includes(error.code) ? `${error.code}: ` : '';
  return fail('poisoned', `Moved to the poison queue after repeated errors: ${(code + error.message).slice(0, 500)}`);
}

/** Intake recorded the message but could not queue it, and the caller has no key to come back with. */
export function enqueueFailed(): Changes {
  return { ...fail('enqueue-failed', 'Could not queue the message; send the request again.'), enqueuedAt: undefined };
}

/** The message or its payload can never be sent as it is. */
export function malformed(reason: string): Changes {
  return fail('malformed', reason.slice(0, 1000));
}

/** An SMTP reply as the record keeps it; the code is read from the text when not given. */
export function replyOf(text: string, code?: number): Reply {
  return { lastReplyCode: code ?? (Number(text.slice(0, 3)) || undefined), lastReplyText: text.slice(0, 1000) };
}

/**
 * Recipient outcomes a record keeps: a table property holds at most 32K characters, and an outcome is at most about
 * 650 (address, status, diagnostic and remote MTA cut to their bounds). Bounces are kept before delays.
 */
export const MAX_RECIPIENT_OUTCOMES = 40;
/** Report Message-IDs a record remembers; a report is read again only when moving it out of the folder failed. */
export const MAX_REPORT_IDS = 20;

/**
 * A delivery report about a sent message: each recipient's new outcome (a bounce stays a bounce; a later delay
 * does not undo it), `delivered` the recipients it says got the message (their delay is over). When every
 * recipient the server accepted has bounced, the message is `bounced`; otherwise it stays `sent` with the list.
 * Nothing changes for a report already recorded.
 */
export function deliveryReported(
  record: StatusRecord,
  reportId: string,
  outcomes: readonly RecipientOutcome[],
  delivered: readonly string[] = [],
): Changes {
  if (record.reportIds?.includes(reportId)) return {};
  const byRecipient = new Map((record.recipientOutcomes ?? []).map((outcome) => [outcome.recipient, outcome]));
  for (const address of delivered) if (byRecipient.get(address)?.outcome === 'delayed') byRecipient.delete(address);
  for (const outcome of outcomes) {
    if (byRecipient.get(outcome.recipient)?.outcome !== 'bounced') byRecipient.set(outcome.recipient, outcome);
  }
  const merged = [...byRecipient.values()];
  const bounced = new Set(merged.filter((o) => o.outcome === 'bounced').map((o) => o.recipient));
  const accepted = (record.accepted ?? []).map((address) => address.toLowerCase());
  const everyRecipientBounced =
    accepted.length > 0 ? accepted.every((address) => bounced.has(address)) : bounced.size >= record.recipientCount;
  const kept = [...merged.filter((o) => o.outcome === 'bounced'), ...merged.filter((o) => o.outcome === 'delayed')].slice(
    0,
    MAX_RECIPIENT_OUTCOMES,
  );
  const reportIds = [...(record.reportIds ?? []), reportId].slice(-MAX_REPORT_IDS);
  if (everyRecipientBounced && bounced.size > 0) {
    return {
      status: 'bounced',
      recipientOutcomes: kept,
      reportIds,
      errorCategory: 'bounced',
      hint: 'Accepted for delivery, then reported undeliverable for every recipient (see the recipient outcomes).',
      ...SETTLED,
    };
  }
  return {
    recipientOutcomes: kept,
    reportIds,
    ...(bounced.size > 0 && !record.errorCategory ? { errorCategory: 'some-recipients-bounced' } : {}),
  };
}
