// One run of the delivery report reader: every configured mailbox in turn (one IMAP connection at a time), each
// report recorded in the status store. What a timer-triggered function calls; it knows nothing of the host.
import type { TokenSource } from '../identity/token-source';
import type { StatusStore } from '../status/status-store';
import { recordDeliveryReports, type ReportResult } from './record-reports';
import { readDeliveryReports, type ReadSummary, type ReportsConfig } from './report-reader';

export interface ReportRunDeps {
  /** Tokens by mailbox: the routed token source of the sender profiles, as SMTP uses it (the same scope). */
  tokens: TokenSource;
  status: Pick<StatusStore, 'get' | 'update'>;
  /** Called with each mailbox's results once they are recorded, before the reports are moved (callbacks, suppression). */
  afterRecord?: (results: readonly ReportResult[]) => Promise<void>;
  log?: (line: string) => void;
  now?: () => Date;
}

export type MailboxRun = ReadSummary | { mailbox: string; error: string };

/** Reads each mailbox once; a mailbox that fails is reported as such and the others are still read. */
export async function readAllDeliveryReports(reports: ReportsConfig, deps: ReportRunDeps): Promise<MailboxRun[]> {
  const runs: MailboxRun[] = [];
  for (const mailbox of reports.mailboxes) {
    try {
      runs.push(
        await readDeliveryReports(mailbox, reports.reader, {
          tokens: deps.tokens,
          log: deps.log,
          record: async (parsed) => {
            const results = await recordDeliveryReports(deps.status, parsed, { now: deps.now });
            await deps.afterRecord?.(results);
            return results;
          },
        }),
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      deps.log?.(`delivery reports of ${mailbox} not read: ${message}`);
      runs.push({ mailbox, error: message.slice(0, 500) });
    }
  }
  return runs;
}
