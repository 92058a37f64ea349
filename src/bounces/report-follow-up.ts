// What follows a delivery report once it is recorded: the caller's callback events (bounced, delayed) and the
// metrics. Passed to the reader run as its afterRecord, so it runs before the reports are moved: a failure here
// leaves them to be read again, and a report read again is recorded once and followed up again (receivers drop
// repeats by event id).
import type { CallbackQueue } from '../callbacks/callback-queue';
import { instruments } from '../telemetry/instruments';
import type { ReportResult } from './record-reports';

export interface ReportFollowUpDeps {
  callbacks: Pick<CallbackQueue, 'notifyReport'>;
}

export function createReportFollowUp(deps: ReportFollowUpDeps) {
  return async function followUp(results: readonly ReportResult[]): Promise<void> {
    for (const result of results) {
      if (result.result !== 'recorded' || result.newOutcomes.length === 0) continue;
      for (const outcome of result.newOutcomes) {
        if (outcome.outcome === 'bounced') instruments().bounced.add(1, { 'mail.status.class': statusClass(outcome.status) });
        else instruments().delayed.add(1);
      }
      await deps.callbacks.notifyReport(result.record, result.newOutcomes);
    }
  };
}

/** `5.1.1` → `5.1`: few values for a metric attribute, never an address. */
function statusClass(status: string): string {
  const match = /^([245])\.(\d{1,3})\./.exec(status);
  return match ? `${match[1]}.${match[2]}` : 'other';
}
