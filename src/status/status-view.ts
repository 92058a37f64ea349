// What callers see of a status record: the outcome and why, not our bookkeeping.
import type { StatusRecord } from './status-store';

export interface StatusView {
  id: string;
  status: StatusRecord['status'];
  attempts: number;
  createdAt: string;
  updatedAt: string;
  sender: string;
  recipientCount: number;
  sendAt?: string;
  nextAttemptAt?: string;
  smtpMessageId?: string;
  accepted?: string[];
  rejected?: string[];
  lastReply?: { code?: number; text: string };
  error?: { category: string; hint?: string };
}

export function statusView(record: StatusRecord): StatusView {
  return {
    id: record.id,
    status: record.status,
    attempts: record.attempts,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    sender: record.sender,
    recipientCount: record.recipientCount,
    ...(record.sendAt ? { sendAt: record.sendAt } : {}),
    ...(record.nextAttemptAt ? { nextAttemptAt: record.nextAttemptAt } : {}),
    ...(record.smtpMessageId ? { smtpMessageId: record.smtpMessageId } : {}),
    ...(record.accepted ? { accepted: record.accepted } : {}),
    ...(record.rejected ? { rejected: record.rejected } : {}),
    ...(record.lastReplyText ? { lastReply: { code: record.lastReplyCode, text: record.lastReplyText } } : {}),
    ...(record.errorCategory ? { error: { category: record.errorCategory, hint: record.hint } } : {}),
  };
}

/** Seconds a poller should wait: until the next attempt or scheduled time when known, within bounds. */
export function retryAfterSeconds(record: StatusRecord, now = Date.now()): number {
  const next = Date.parse(record.nextAttemptAt ?? record.sendAt ?? '') || 0;
  return Math.min(300, Math.max(2, Math.ceil((next - now) / 1000)));
}
