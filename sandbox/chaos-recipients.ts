// Recipients that fail on purpose, as Mailpit's chaos mode does, so that every outcome can be seen without a tenant.
// The local part chooses the outcome, whatever the domain:
//   defer      451 4.7.500 at RCPT for its first attempts, then accepted
//   reject     550 5.1.10 at RCPT (recipient not found, as Exchange answers it)
//   auth-fail  535 5.7.3, the answer Exchange gives a refused token
//   bounce     accepted, then a non-delivery report (5.1.1) lands in the sending mailbox
//   delay      accepted, then a delay notice (action delayed) lands in the sending mailbox
// Reports are built as Exchange Online writes them: multipart/report; report-type=delivery-status with
// message/delivery-status and the original's headers in text/rfc822-headers.
import MimeNode from 'nodemailer/lib/mime-node';

export const CHAOS_LOCAL_PARTS = ['defer', 'reject', 'auth-fail', 'bounce', 'delay'] as const;
export type ChaosLocalPart = (typeof CHAOS_LOCAL_PARTS)[number];

const DEFERRED = '451 4.7.500 Server busy. Please try again later.';
const REJECTED = '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup';
const AUTH_REFUSED = '535 5.7.3 Authentication unsuccessful';
const REPORTING_MTA = 'localhost.sandbox.local';

export interface ChaosOptions {
  /** Where a report for `mailbox` (the sending mailbox, lower case) is delivered, as raw RFC 5322 bytes. */
  deliverReport(mailbox: string, raw: Buffer): void;
  /** How long after the 250 a report arrives (default 3 s, as a real one comes minutes later). */
  reportDelayMs?: number;
  /** How many attempts to a `defer` recipient are answered 451 before one is accepted (default 2). */
  deferAttempts?: number;
}

/** What the SMTP server accepted, as far as reports need it. */
export interface AcceptedMessage {
  mailbox: string;
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

export interface ChaosRecipients {
  /** The reply to RCPT TO for `recipient` from `mailbox`, or undefined to accept it. */
  rcptReply(mailbox: string, recipient: string): string | undefined;
  /** Schedules the reports an accepted message's chaos recipients earn. */
  accepted(message: AcceptedMessage): void;
  /** Cancels the reports still waiting. */
  stop(): void;
}

export function chaosLocalPart(address: string): ChaosLocalPart | undefined {
  const at = address.lastIndexOf('@');
  const local = (at < 0 ? address : address.slice(0, at)).toLowerCase();
  return (CHAOS_LOCAL_PARTS as readonly string[]).includes(local) ? (local as ChaosLocalPart) : undefined;
}

export function createChaosRecipients(options: ChaosOptions): ChaosRecipients {
  const deferAttempts = options.deferAttempts ?? 2;
  const reportDelayMs = options.reportDelayMs ?? 3000;
  /** Refusals given so far per mailbox and defer recipient; reset when one is accepted, so the next send defers again. */
  const deferrals = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  return {
    rcptReply(mailbox, recipient) {
      const kind = chaosLocalPart(recipient);
      if (kind === 'reject') return REJECTED;
      if (kind === 'auth-fail') return AUTH_REFUSED;
      if (kind !== 'defer') return undefined;
      const key = `${mailbox} ${recipient.toLowerCase()}`;
      const given = deferrals.get(key) ?? 0;
      if (given < deferAttempts) {
        deferrals.set(key, given + 1);
        return DEFERRED;
      }
      deferrals.delete(key);
      return undefined;
    },
    accepted(message) {
      const original = parseHeaders(message.raw);
      for (const recipient of message.rcptTo) {
        const kind = chaosLocalPart(recipient);
        if (kind !== 'bounce' && kind !== 'delay') continue;
        const timer = setTimeout(() => {
          timers.delete(timer);
          void buildReport(kind, { ...original, recipient, sender: message.mailFrom || message.mailbox }).then(
            (raw) => options.deliverReport(message.mailbox, raw),
            () => undefined, // a report that cannot be built is a sandbox fault; the send itself succeeded
          );
        }, reportDelayMs);
        timer.unref();
        timers.add(timer);
      }
    },
    stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

interface ReportSubject {
  /** The original's header block, unfolded lines kept as they came. */
  headers: string;
  messageId?: string;
  subject?: string;
  recipient: string;
  sender: string;
}

function parseHeaders(raw: Buffer): Omit<ReportSubject, 'recipient' | 'sender'> {
  const end = raw.indexOf('\r\n\r\n');
  const headers = raw.subarray(0, end < 0 ? Math.min(raw.length, 64 * 1024) : Math.min(end, 64 * 1024)).toString('utf8');
  const unfolded = headers.replace(/\r\n[ \t]+/g, ' ');
  return {
    headers,
    messageId: /^message-id:\s*(<[^>\s]+>)/im.exec(unfolded)?.[1],
    subject: /^subject:[ \t]*(.*)$/im.exec(unfolded)?.[1],
  };
}

/** An Exchange-style non-delivery report (5.1.1) or delay notice (4.4.7) about one recipient. */
export function buildReport(kind: 'bounce' | 'delay', about: ReportSubject): Promise<Buffer> {
  const failed = kind === 'bounce';
  const root = new MimeNode('multipart/report; report-type=delivery-status');
  root.setHeader({
    From: `Microsoft Outlook <postmaster@${REPORTING_MTA}>`,
    To: about.sender,
    Subject: `${failed ? 'Undeliverable' : 'Delivery delayed'}: ${about.subject ?? ''}`.trim(),
    'Auto-Submitted': 'auto-replied',
  });
  if (about.messageId) root.setHeader({ 'In-Reply-To': about.messageId, References: about.messageId });
  root
    .createChild('text/plain; charset=utf-8')
    .setContent(
      failed
        ? `Your message to ${about.recipient} couldn't be delivered.\r\nThe address couldn't be found, or is unable to receive email.\r\n`
        : `Delivery to ${about.recipient} has been delayed. The server will keep trying.\r\n`,
    );
  const status = [
    `Reporting-MTA: dns;${REPORTING_MTA}`,
    `Arrival-Date: ${new Date().toUTCString()}`,
    '',
    `Final-Recipient: rfc822;${about.recipient}`,
    `Action: ${failed ? 'failed' : 'delayed'}`,
    `Status: ${failed ? '5.1.1' : '4.4.7'}`,
    failed
      ? 'Diagnostic-Code: smtp;550 5.1.1 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'
      : 'Diagnostic-Code: smtp;400 4.4.7 Message delayed',
    `Remote-MTA: dns;${REPORTING_MTA}`,
    '',
  ].join('\r\n');
  // 7bit keeps the field blocks readable as RFC 3464 text; both hold only ASCII the sandbox wrote or received.
  root.createChild('message/delivery-status').setHeader('Content-Transfer-Encoding', '7bit').setContent(status);
  root.createChild('text/rfc822-headers').setHeader('Content-Transfer-Encoding', '7bit').setContent(`${about.headers}\r\n`);
  return new Promise((resolve, reject) => root.build((error, raw) => (error ? reject(error) : resolve(raw))));
}
