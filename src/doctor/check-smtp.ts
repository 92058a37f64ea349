// Each sending mailbox: an SMTP session up to AUTH XOAUTH2 and QUIT, without sending anything.
import type { MailConfig } from '../config';
import { explainSmtpError } from './explain';
import type { SmtpProbe } from './smtp-probe';
import { fail, pass, skip, type CheckResult } from './report';

/** The mailboxes named in MAIL_ALLOWED_SENDERS, the default sender, and the domain entries (which name none). */
export function sendersToCheck(config: MailConfig): { mailboxes: string[]; domains: string[] } {
  const mailboxes = config.allowedSenders.filter((s) => !s.startsWith('@'));
  if (config.defaultSender && !mailboxes.includes(config.defaultSender)) mailboxes.push(config.defaultSender);
  return { mailboxes, domains: config.allowedSenders.filter((s) => s.startsWith('@')) };
}

export async function checkSmtp(
  config: MailConfig,
  token: string | undefined,
  probe: SmtpProbe,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const { host, port } = config.smtp;
  const { mailboxes, domains } = sendersToCheck(config);
  const domainLines = domains.map((domain) =>
    skip(
      `smtp:${domain}`,
      `SMTP as ${domain}: not checked, a domain entry names no mailbox`,
      'List the mailboxes you send as in MAIL_ALLOWED_SENDERS (or set MAIL_DEFAULT_SENDER) and the doctor checks each; otherwise only a sent mail shows whether Exchange lets the app send as them.',
    ),
  );
  if (!token) {
    return [...mailboxes.map((m) => skip(`smtp:${m}`, `SMTP as ${m}: not checked, no access token`)), ...domainLines];
  }
  // One session per mailbox at a time, all mailboxes at once: Exchange counts connections per mailbox.
  const results = await Promise.all(
    mailboxes.map(async (mailbox): Promise<CheckResult> => {
      try {
        const steps = await probe({ smtp: config.smtp, mailbox, token, timeoutMs });
        return pass(`smtp:${mailbox}`, `SMTP as ${mailbox} at ${host}:${port}: ${steps.join(', ')}`);
      } catch (error) {
        const { detail, fix } = explainSmtpError(error, mailbox, config.smtp);
        return fail(`smtp:${mailbox}`, `SMTP as ${mailbox} at ${host}:${port}: refused`, fix, { details: [detail] });
      }
    }),
  );
  return [...results, ...domainLines];
}
