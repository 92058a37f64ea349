// Reads delivery reports from one sending mailbox over IMAP (implicit TLS, XOAUTH2 with the app-only token the
// SMTP path uses), hands them to be recorded, and moves each recorded report to the reports folder, so it is read
// once. Everything else in the mailbox is left as it was: bodies are fetched with BODY.PEEK (no \Seen), only
// delivery reports are fetched at all, and a report that names no message of ours stays where it is.
import { ImapFlow, type FetchMessageObject, type MessageStructureObject } from 'imapflow';
import type { TokenSource } from '../identity/token-source';
import { parseDeliveryReport, type DeliveryReport } from './delivery-report';
import type { ReportResult } from './record-reports';

export interface ReportReaderOptions {
  host: string;
  /** Implicit TLS (993 at Exchange Online). */
  port: number;
  tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Folder the reports arrive in. */
  sourceFolder: string;
  /** Folder a recorded report is moved to; made when missing. */
  reportsFolder: string;
  /** Reports fetched per run; the newest first, so reports nobody claims never hold back new ones. */
  maxReports: number;
  /** Bytes fetched of one report: the status part comes before any copy of the original message. */
  maxReportBytes: number;
  /** Newest messages of the source folder looked at per run. */
  maxScanned: number;
  /** The whole visit of one mailbox, connection included. */
  timeoutMs: number;
}

export interface ReadSummary {
  mailbox: string;
  /** Messages looked at (their structure only). */
  scanned: number;
  /** Delivery reports among them, fetched and parsed (up to maxReports). */
  reports: number;
  recorded: number;
  alreadyRecorded: number;
  /** Reports that name no message of ours: left where they are. */
  unmatched: number;
  /** Reports about a message still being sent: left for a later run. */
  notSentYet: number;
  /** Looked like reports but are not well-formed ones: left where they are. */
  malformed: number;
  moved: number;
}

export interface ReportReaderDeps {
  tokens: TokenSource;
  /** Records the parsed reports (recordDeliveryReports with a status store, plus whatever else hooks in). */
  record: (reports: readonly DeliveryReport[]) => Promise<ReportResult[]>;
  /** Operator log; never given a token or a report's content. */
  log?: (line: string) => void;
}

/** What may run per mailbox in this process: one IMAP connection at a time. */
const visits = new Map<string, Promise<unknown>>();

/**
 * Reads the mailbox's reports once. A second call for the same mailbox while one runs waits for it to end, so this
 * process holds at most one connection to each mailbox.
 */
export async function readDeliveryReports(mailbox: string, options: ReportReaderOptions, deps: ReportReaderDeps): Promise<ReadSummary> {
  const key = mailbox.toLowerCase();
  const previous = visits.get(key) ?? Promise.resolve();
  const visit = previous.catch(() => undefined).then(() => visitMailbox(mailbox, options, deps));
  visits.set(key, visit);
  try {
    return await visit;
  } finally {
    if (visits.get(key) === visit) visits.delete(key);
  }
}

async function visitMailbox(mailbox: string, options: ReportReaderOptions, deps: ReportReaderDeps): Promise<ReadSummary> {
  const summary: ReadSummary = {
    mailbox,
    scanned: 0,
    reports: 0,
    recorded: 0,
    alreadyRecorded: 0,
    unmatched: 0,
    notSentYet: 0,
    malformed: 0,
    moved: 0,
  };
  const client = await connect(mailbox, options, deps.tokens);
  // One bound for the whole visit: closing the connection fails whatever command is waiting.
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    client.close();
  }, options.timeoutMs);
  try {
    const lock = await client.getMailboxLock(options.sourceFolder);
    try {
      const candidates = await newestReports(client, options, summary);
      const fetched: { uid: number; report: DeliveryReport }[] = [];
      for (const uid of candidates) {
        const message = await client.fetchOne(String(uid), { uid: true, source: { maxLength: options.maxReportBytes } }, { uid: true });
        if (!message || !message.source) continue;
        const parsed = await parseDeliveryReport(message.source);
        if ('notAReport' in parsed) {
          summary.malformed++;
          deps.log?.(`delivery report uid ${uid} in ${options.sourceFolder} left alone: ${parsed.notAReport}`);
          continue;
        }
        fetched.push({ uid, report: parsed.report });
      }
      summary.reports = fetched.length;
      const results = await deps.record(fetched.map((f) => f.report));
      const done: number[] = [];
      results.forEach((result, index) => {
        if (result.result === 'recorded') summary.recorded++;
        else if (result.result === 'already-recorded') summary.alreadyRecorded++;
        else if (result.result === 'unmatched') summary.unmatched++;
        else summary.notSentYet++;
        if (result.result === 'recorded' || result.result === 'already-recorded') done.push(fetched[index].uid);
      });
      if (done.length > 0) {
        await ensureFolder(client, options.reportsFolder);
        const moved = await client.messageMove(uidSet(done), options.reportsFolder, { uid: true });
        summary.moved = moved ? (moved.uidMap?.size ?? done.length) : 0;
      }
    } finally {
      lock.release();
    }
    await client.logout();
    return summary;
  } catch (error) {
    if (timedOut) throw new Error(`reading delivery reports of ${mailbox} took longer than ${options.timeoutMs} ms`, { cause: error });
    throw error;
  } finally {
    clearTimeout(deadline);
    client.close();
  }
}

/** Connects and authenticates; a refused token is renewed once, as a token the server no longer takes may still be cached. */
async function connect(mailbox: string, options: ReportReaderOptions, tokens: TokenSource): Promise<ImapFlow> {
  for (let attempt = 0; ; attempt++) {
    const { token } = await tokens.getToken({ mailbox, forceRefresh: attempt > 0 });
    const client = new ImapFlow({
      host: options.host,
      port: options.port,
      secure: true,
      auth: { user: mailbox, accessToken: token },
      tls: { minVersion: options.tlsMinVersion, rejectUnauthorized: true },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: Math.min(30_000, options.timeoutMs),
      greetingTimeout: Math.min(16_000, options.timeoutMs),
      socketTimeout: Math.min(60_000, options.timeoutMs),
      // A fetched report is at most maxReportBytes; the largest other answer is the folder's structure listing.
      maxLiteralSize: options.maxReportBytes + 1024,
    });
    // The connection reports late errors (a reset after the visit) as events: they must not end the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      client.close();
      if ((error as { authenticationFailed?: boolean }).authenticationFailed && attempt === 0) continue;
      throw new Error(`IMAP connection to ${options.host}:${options.port} for ${mailbox} failed: ${describe(error)}`, { cause: error });
    }
  }
}

/** UIDs of the newest delivery reports among the newest maxScanned messages, newest first, at most maxReports. */
async function newestReports(client: ImapFlow, options: ReportReaderOptions, summary: ReadSummary): Promise<number[]> {
  const all = (await client.search({ all: true }, { uid: true })) || [];
  const window = all.sort((a, b) => a - b).slice(-options.maxScanned);
  summary.scanned = window.length;
  if (window.length === 0) return [];
  const structures: FetchMessageObject[] = await client.fetchAll(uidSet(window), { uid: true, bodyStructure: true }, { uid: true });
  return structures
    .filter((message) => isDeliveryReport(message.bodyStructure))
    .map((message) => message.uid)
    .sort((a, b) => b - a)
    .slice(0, options.maxReports);
}

function isDeliveryReport(structure: MessageStructureObject | undefined): boolean {
  return (
    structure?.type?.toLowerCase() === 'multipart/report' && structure.parameters?.['report-type']?.toLowerCase() === 'delivery-status'
  );
}

async function ensureFolder(client: ImapFlow, folder: string): Promise<void> {
  const folders = await client.list();
  if (!folders.some((f) => f.path === folder)) await client.mailboxCreate(folder);
}

/** `1:5,9,12:14`: UIDs as ranges, so a thousand consecutive UIDs are one short token. */
export function uidSet(uids: readonly number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i];
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i] + 1) i++;
    ranges.push(start === sorted[i] ? `${start}` : `${start}:${sorted[i]}`);
  }
  return ranges.join(',');
}

function describe(error: unknown): string {
  const { message, responseText, code } = error as { message?: string; responseText?: string; code?: string };
  return [code, responseText ?? message].filter(Boolean).join(': ').split('\n')[0].slice(0, 300);
}

/** Which mailboxes are read for delivery reports, and how. */
export interface ReportsConfig {
  mailboxes: string[];
  reader: ReportReaderOptions;
}
