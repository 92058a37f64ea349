// What callers see of a status record: the outcome and why, not our bookkeeping.
import { z } from 'zod';
import { MAIL_STATES } from './mail-state';
import { isCallbackFailure, type CallbackState, type RecipientOutcome, type StatusRecord } from './status-store';

/** Described with the same schema library as requests, so the API description comes from it. */
export const statusViewSchema = z
  .object({
    id: z.string(),
    status: z.enum(MAIL_STATES),
    attempts: z.number().int(),
    createdAt: z.iso.datetime({ offset: true }),
    updatedAt: z.iso.datetime({ offset: true }),
    sender: z.string(),
    profile: z.string().optional().meta({ description: 'The sender profile (tenant, credential, SMTP endpoint) it was sent through.' }),
    recipientCount: z.number().int(),
    sendAt: z.iso.datetime({ offset: true }).optional(),
    nextAttemptAt: z.iso.datetime({ offset: true }).optional(),
    smtpMessageId: z.string().optional(),
    accepted: z.array(z.string()).optional(),
    rejected: z.array(z.string()).optional(),
    lastReply: z.object({ code: z.number().int().optional(), text: z.string() }).optional(),
    recipientOutcomes: z
      .array(
        z.object({
          recipient: z.string(),
          outcome: z.enum(['bounced', 'delayed']),
          status: z.string().meta({ description: 'Enhanced status code from the delivery report, such as 5.1.1.' }),
          diagnosticCode: z.string().optional(),
          remoteMta: z.string().optional(),
          reportedAt: z.iso.datetime({ offset: true }),
        }),
      )
      .optional()
      .meta({
        description:
          'What delivery reports said after the send, per recipient: bounced (undeliverable) or delayed (still being tried). A message whose every recipient bounced is bounced; a partial bounce stays sent with this list.',
      }),
    error: z.object({ category: z.string(), hint: z.string().optional() }).optional(),
    callback: z
      .object({
        state: z.enum(['pending', 'delivered', 'failed']),
        attempts: z.number().int(),
        lastError: z.string().optional().meta({
          description:
            'Why the last attempt failed: http-<status>, timeout, tls, connection-failed, refused-address (the host does not resolve to a public address), url-not-allowed or not-configured.',
        }),
        lastAttemptAt: z.iso.datetime({ offset: true }).optional(),
        event: z.string().optional().meta({ description: 'The CloudEvent id of the event this state is for.' }),
      })
      .optional()
      .meta({
        description:
          "The latest callback to the request's callbackUrl (sent, failed, bounced or delayed): pending while it is retried, then delivered or failed (given up).",
      }),
  })
  .strict()
  .meta({ id: 'MailStatus', description: 'What is known about a mail: never its body, subject or attachments.' });

export type StatusView = z.infer<typeof statusViewSchema>;

export function statusView(record: StatusRecord): StatusView {
  return {
    id: record.id,
    status: record.status,
    attempts: record.attempts,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    sender: record.sender,
    ...(record.profile ? { profile: record.profile } : {}),
    recipientCount: record.recipientCount,
    ...(record.sendAt ? { sendAt: record.sendAt } : {}),
    ...(record.nextAttemptAt ? { nextAttemptAt: record.nextAttemptAt } : {}),
    ...(record.smtpMessageId ? { smtpMessageId: record.smtpMessageId } : {}),
    ...(record.accepted ? { accepted: record.accepted } : {}),
    ...(record.rejected ? { rejected: record.rejected } : {}),
    ...(record.lastReplyText ? { lastReply: { code: record.lastReplyCode, text: record.lastReplyText } } : {}),
    ...(record.recipientOutcomes?.length ? { recipientOutcomes: record.recipientOutcomes.map(outcomeView) } : {}),
    ...(record.errorCategory ? { error: { category: record.errorCategory, hint: record.hint } } : {}),
    ...(record.callback ? { callback: callbackView(record.callback) } : {}),
  };
}

/** Only the named fields: the record's outcome may grow bookkeeping the caller should not see. */
function outcomeView({ recipient, outcome, status, diagnosticCode, remoteMta, reportedAt }: RecipientOutcome) {
  return {
    recipient,
    outcome,
    status,
    ...(diagnosticCode ? { diagnosticCode } : {}),
    ...(remoteMta ? { remoteMta } : {}),
    reportedAt,
  };
}

/** Seconds a poller should wait: until the next attempt or scheduled time when known, within bounds. */
export function retryAfterSeconds(record: StatusRecord, now = Date.now()): number {
  const next = Date.parse(record.nextAttemptAt ?? record.sendAt ?? '') || 0;
  return Math.min(300, Math.max(2, Math.ceil((next - now) / 1000)));
}

/** A record written before lastError held a category may hold the raw error: never shown, its category is. */
function callbackView(callback: CallbackState): CallbackState {
  const { lastError } = callback;
  if (lastError === undefined || isCallbackFailure(lastError)) return callback;
  const http = /^HTTP (\d{3})\b/.exec(lastError);
  return { ...callback, lastError: http ? `http-${http[1]}` : 'connection-failed' };
}
