// Delivery reports into the status store: each report is matched to the product's message by the Message-ID the
// product derives from the message id, and its recipients' outcomes are recorded on that message's record.
import { messageIdSchema, smtpMessageId } from '../mail/envelope';
import { StatusConflictError, type RecipientOutcome, type StatusRecord, type StatusStore } from '../status/status-store';
import { deliveryReported } from '../status/transitions';
import type { DeliveryReport } from './delivery-report';
import type { RecipientStatus } from './delivery-status';

/**
 * What became of one report. `recorded`: its outcomes are on the record (`newOutcomes`, what this report added);
 * `already-recorded`: read before (both mean it may leave the folder). `unmatched`: it names no message of ours, and
 * stays where it is. `not-sent-yet`: its message is still being sent here, so it is left for a later run.
 */
export type ReportResult =
  | { result: 'recorded'; reportId: string; record: StatusRecord; newOutcomes: RecipientOutcome[] }
  | { result: 'already-recorded'; reportId: string; id: string }
  | { result: 'unmatched'; reportId: string }
  | { result: 'not-sent-yet'; reportId: string; id: string };

export interface RecordOptions {
  now?: () => Date;
}

const MAX_CONFLICT_RETRIES = 5;
const DIAGNOSTIC_CHARS = 200;
const REMOTE_MTA_CHARS = 100;
/** `<id@domain>` as smtpMessageId makes it. */
const PRODUCT_MESSAGE_ID = /^<([^<>@\s]+)@([^<>@\s]+)>$/;

/**
 * Records reports one after another (a report's recipients all land on one record, with a conditional write that
 * is retried on a concurrent change). The results are in the order of `reports`, for the caller to act on:
 * move the report, send callbacks, suppress addresses.
 */
export async function recordDeliveryReports(
  status: Pick<StatusStore, 'get' | 'update'>,
  reports: readonly DeliveryReport[],
  options: RecordOptions = {},
): Promise<ReportResult[]> {
  const results: ReportResult[] = [];
  for (const report of reports) results.push(await recordDeliveryReport(status, report, options));
  return results;
}

export async function recordDeliveryReport(
  status: Pick<StatusStore, 'get' | 'update'>,
  report: DeliveryReport,
  { now = () => new Date() }: RecordOptions = {},
): Promise<ReportResult> {
  const { reportId } = report;
  const id = await matchingMessage(status, report.originalMessageIds);
  if (id === undefined) return { result: 'unmatched', reportId };
  for (let attempt = 0; ; attempt++) {
    const stored = await status.get(id);
    if (!stored) return { result: 'unmatched', reportId };
    const { record } = stored;
    if (record.status !== 'sent' && record.status !== 'bounced') {
      // Queued, sending or deferred: a report can outrun the record of its own send; failed: nothing was accepted.
      return record.status === 'failed' ? { result: 'unmatched', reportId } : { result: 'not-sent-yet', reportId, id };
    }
    if (record.reportIds?.includes(reportId)) return { result: 'already-recorded', reportId, id };
    const at = now();
    const recipients = ofThisMessage(record, report);
    const newOutcomes = outcomesOf(recipients, at);
    const delivered = recipients.filter((r) => r.action !== 'failed' && r.action !== 'delayed').map((r) => r.recipient);
    try {
      const updated = await status.update(stored, deliveryReported(record, reportId, newOutcomes, delivered), at);
      return { result: 'recorded', reportId, record: updated.record, newOutcomes };
    } catch (error) {
      if (!(error instanceof StatusConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
    }
  }
}

/** The first Message-ID that is one the product derived for a message it knows. */
async function matchingMessage(status: Pick<StatusStore, 'get'>, messageIds: readonly string[]): Promise<string | undefined> {
  for (const messageId of messageIds) {
    const match = PRODUCT_MESSAGE_ID.exec(messageId);
    if (!match || !messageIdSchema.safeParse(match[1]).success) continue;
    const stored = await status.get(match[1]);
    if (stored && smtpMessageId(stored.record.id, stored.record.sender).toLowerCase() === messageId.toLowerCase()) return match[1];
  }
  return undefined;
}

/**
 * The report's recipients that the message was sent to (by Final-Recipient, else Original-Recipient, as a forward
 * rewrites the first): a report cannot put an outcome on an address the message never had.
 */
function ofThisMessage(record: StatusRecord, report: DeliveryReport): RecipientStatus[] {
  const accepted = new Set((record.accepted ?? []).map((address) => address.toLowerCase()));
  if (accepted.size === 0) return report.recipients;
  return report.recipients.flatMap((r) => {
    if (accepted.has(r.recipient)) return [r];
    return r.originalRecipient && accepted.has(r.originalRecipient) ? [{ ...r, recipient: r.originalRecipient }] : [];
  });
}

function outcomesOf(recipients: readonly RecipientStatus[], at: Date): RecipientOutcome[] {
  return recipients
    .filter((r) => r.action === 'failed' || r.action === 'delayed')
    .map((r) => ({
      recipient: r.recipient,
      outcome: r.action === 'failed' ? 'bounced' : 'delayed',
      status: r.status,
      ...(r.diagnosticCode ? { diagnosticCode: r.diagnosticCode.slice(0, DIAGNOSTIC_CHARS) } : {}),
      ...(r.remoteMta ? { remoteMta: r.remoteMta.slice(0, REMOTE_MTA_CHARS) } : {}),
      reportedAt: at.toISOString(),
    }));
}
