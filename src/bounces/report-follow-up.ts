// What follows a delivery report once it is recorded: the caller's callback events (bounced, delayed), the
// suppression of addresses that bounced hard, and the metrics. Passed to the reader run as its afterRecord, so it runs before the reports are moved: a failure here
// leaves them to be read again, and a report read again is recorded once and followed up again (receivers drop
// repeats by event id).
import type { CallbackQueue } from '../callbacks/callback-queue';
import { instruments } from '../telemetry/instruments';
import type { ReportResult } from './record-reports';
import type { RecipientOutcome, StatusRecord } from '../status/status-store';
import { isHardBounce } from '../suppression/hard-bounce';
import { SuppressionKeyError, type SuppressionList } from '../suppression/suppression-list';

export interface ReportFollowUpDeps {
  callbacks: Pick<CallbackQueue, 'notifyReport'>;
  suppressions: Pick<SuppressionList, 'add'>;
  log?: (line: string) => void;
}

export function createReportFollowUp(deps: ReportFollowUpDeps) {
  return async function followUp(results: readonly ReportResult[]): Promise<void> {
    for (const result of results) {
      if (result.result !== 'recorded' || result.newOutcomes.length === 0) continue;
      for (const outcome of result.newOutcomes) {
        if (outcome.outcome === 'bounced' && isHardBounce(outcome.status)) await suppress(deps, result.record, outcome);
        if (outcome.outcome === 'bounced') instruments().bounced.add(1, { 'mail.status.class': statusClass(outcome.status) });
        else instruments().delayed.add(1);
      }
      await deps.callbacks.notifyReport(result.record, result.newOutcomes);
    }
  };
}

async function suppress(deps: ReportFollowUpDeps, record: StatusRecord, outcome: RecipientOutcome): Promise<void> {
  try {
    await deps.suppressions.add({
      profile: record.profile,
      address: outcome.recipient,
      status: outcome.status,
      reason: outcome.diagnosticCode,
      messageId: record.id,
      suppressedAt: outcome.reportedAt,
    });
  } catch (error) {
    // An address intake would never have taken cannot be mailed again anyway: logged, and the report still moves.
    if (!(error instanceof SuppressionKeyError)) throw error;
    deps.log?.(`not suppressed (message ${record.id}): ${error.message}`);
  }
}

/** `5.1.1` → `5.1`: few values for a metric attribute, never an address. */
function statusClass(status: string): string {
  const match = /^([245])\.(\d{1,3})\./.exec(status);
  return match ? `${match[1]}.${match[2]}` : 'other';
}
