// Timer trigger: reads the delivery reports of the MAIL_REPORTS_MAILBOXES and records them (src/bounces). Without
// that setting it does nothing. A mailbox that cannot be read is logged and the others are still read; the run does
// not throw for it, as the next run tries again anyway.
import type { InvocationContext, Timer } from '@azure/functions';
import { readAllDeliveryReports } from '../bounces/read-all-reports';
import { createReportFollowUp } from '../bounces/report-follow-up';
import type { CallbackQueue } from '../callbacks/callback-queue';
import type { SuppressionList } from '../suppression/suppression-list';
import type { MailConfig } from '../config/load-config';
import type { TokenSource } from '../identity/token-source';
import { privateLogger } from '../logger';
import type { StatusStore } from '../status/status-store';

export interface ReadDeliveryReportsDeps {
  config: Pick<MailConfig, 'reports' | 'logAddresses'>;
  /** Routed by mailbox to its sender profile's token source, as SMTP uses it. */
  tokens: TokenSource;
  status: Pick<StatusStore, 'get' | 'update'>;
  /** Where the bounced and delayed events for the mails' callbackUrls are queued. */
  callbacks: { queue: Pick<CallbackQueue, 'notifyReport'> };
  /** Where addresses that bounced hard are put, per sender profile. */
  suppressions: Pick<SuppressionList, 'add'>;
}

export function createReadDeliveryReportsHandler(deps: () => ReadDeliveryReportsDeps) {
  return async function readDeliveryReports(_timer: Timer, context: InvocationContext): Promise<void> {
    const { config, tokens, status, callbacks, suppressions } = deps();
    if (!config.reports) return;
    const log = privateLogger(context, config.logAddresses);
    const afterRecord = createReportFollowUp({ callbacks: callbacks.queue, suppressions, log: (line) => log.warn(line) });
    const runs = await readAllDeliveryReports(config.reports, { tokens, status, afterRecord, log: (line) => log.warn(line) });
    for (const run of runs) {
      if ('error' in run) continue;
      const { mailbox, ...counts } = run;
      log.log(
        `delivery reports of ${mailbox}: ${Object.entries(counts)
          .map(([name, count]) => `${name} ${count}`)
          .join(', ')}`,
      );
    }
  };
}
