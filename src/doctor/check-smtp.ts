// Each sending mailbox: an SMTP session up to AUTH XOAUTH2 and QUIT, without sending anything, with the token and
// SMTP endpoint of the mailbox's own sender profile, as the app would send.
import { senderProfileOf, type MailConfig } from '../config/load-config';
import { explainSmtpError } from './explain';
import type { ProfileSettingNames } from './profile-settings';
import type { SmtpProbe } from './smtp-probe';
import { fail, pass, skip, type CheckResult } from './report';

/** What the token check of a profile left for its mailboxes' SMTP checks. */
export interface ProfileToken {
  token?: string;
  /** The token's tid. */
  tenant?: string;
  names: ProfileSettingNames;
}

/**
 * The mailboxes named in MAIL_ALLOWED_SENDERS, the default sender and the profiles' senders, and the domain entries
 * (which name none). A profile's @domain is in MAIL_ALLOWED_SENDERS too, so it is among the domains.
 */
export function sendersToCheck(config: MailConfig): { mailboxes: string[]; domains: string[] } {
  const named = [
    ...config.allowedSenders,
    ...(config.defaultSender ? [config.defaultSender] : []),
    ...config.senderProfiles.flatMap((p) => p.senders),
  ];
  const mailboxes = new Map<string, string>();
  for (const sender of named)
    if (!sender.startsWith('@') && !mailboxes.has(sender.toLowerCase())) mailboxes.set(sender.toLowerCase(), sender);
  return { mailboxes: [...mailboxes.values()], domains: config.allowedSenders.filter((s) => s.startsWith('@')) };
}

export async function checkSmtp(
  config: MailConfig,
  tokens: ReadonlyMap<string, ProfileToken>,
  probe: SmtpProbe,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const { mailboxes, domains } = sendersToCheck(config);
  const domainLines = domains.map((domain) => {
    const profile = senderProfileOf(config, domain).name;
    return skip(
      `smtp:${domain}`,
      `SMTP as ${domain} (profile ${profile}): not checked, a domain entry names no mailbox`,
      "List the mailboxes you send as in MAIL_ALLOWED_SENDERS or in their profile's senders (or set MAIL_DEFAULT_SENDER) and the doctor checks each; otherwise only a sent mail shows whether Exchange lets the app send as them.",
      { data: { profile } },
    );
  });
  // One session per mailbox at a time, all mailboxes at once: Exchange counts connections per mailbox.
  const results = await Promise.all(
    mailboxes.map(async (mailbox): Promise<CheckResult> => {
      const profile = senderProfileOf(config, mailbox);
      const { host, port } = profile.smtp;
      const id = `smtp:${mailbox}`;
      const data = { profile: profile.name };
      const found = tokens.get(profile.name);
      if (!found?.token)
        return skip(
          id,
          `SMTP as ${mailbox} (profile ${profile.name}): not checked, no access token for profile ${profile.name}`,
          undefined,
          { data },
        );
      const title = `SMTP as ${mailbox} (profile ${profile.name}) at ${host}:${port}`;
      try {
        const steps = await probe({ smtp: profile.smtp, mailbox, token: found.token, timeoutMs });
        return pass(id, `${title}: ${steps.join(', ')}`, { data });
      } catch (error) {
        const { detail, fix } = explainSmtpError(error, mailbox, { profile, names: found.names, tenant: found.tenant });
        return fail(id, `${title}: refused`, fix, { details: [detail], data });
      }
    }),
  );
  return [...results, ...domainLines];
}
