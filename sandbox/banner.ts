// What `npm start` prints once it runs: where things are and a request to paste. With real settings (MAIL_SMTP_HOST)
// the mail goes out through the user's tenant for real, so the request says so, is addressed to the sender's own
// mailbox and says nothing of a sandbox.
import type { MailConfig } from '../src/config/load-config';

export interface BannerFacts {
  url: string;
  /** True when the local stack stands in for Entra and Exchange. */
  embedded: boolean;
  config: Pick<MailConfig, 'auth' | 'smtp' | 'allowedSenders' | 'defaultSender'>;
  /** The local mailbox folder, as shown (embedded only). */
  mailDir?: string;
  /** The sandbox's callback receiver (embedded only). */
  callbackUrl?: string;
  /** The sandbox's IMAP server, host:port, where the sending mailboxes' delivery reports are read (embedded only). */
  imap?: string;
}

export function startBanner({ url, embedded, config, mailDir, callbackUrl, imap }: BannerFacts): string {
  const ownMailbox = config.defaultSender ?? config.allowedSenders.find((sender) => !sender.startsWith('@'));
  const mail = embedded
    ? { to: 'someone@example.com', subject: 'Hello from the sandbox', text: 'It works.', ...(callbackUrl ? { callbackUrl } : {}) }
    : { to: ownMailbox ?? 'you@example.com', subject: 'Test from exo-smtp-mailer', text: 'It works.' };
  const lines = [
    '',
    embedded
      ? `Mail sender running on ${url} (local sandbox, auth mode ${config.auth.mode})`
      : `Mail sender running on ${url}: real mail through ${config.smtp.host}:${config.smtp.port}, auth mode ${config.auth.mode}${config.auth.tenantId ? `, tenant ${config.auth.tenantId}` : ''}`,
    `  Send:    POST ${url}/api/mail      Status: GET ${url}/api/mail/{id}      API: ${url}/api/openapi.json`,
    ...(embedded
      ? [
          `  Inbox:   ${url}/ (received mail with its status, live)`,
          `  Mailbox: ${mailDir ?? ''}/ (each message as an .eml file; a line per message below)`,
          ...(imap ? [`  IMAP:    ${imap} (TLS, XOAUTH2: the sending mailboxes, where bounce@ and delay@ reports land)`] : []),
          '  Fail on purpose: to reject@, defer@, auth-fail@, bounce@ or delay@ any domain (docs/development.md)',
        ]
      : []),
    '',
    embedded ? 'Try it:' : `Try it (this sends a real mail${ownMailbox ? ', to your own sender mailbox' : ''}):`,
    `  curl -i -X POST ${url}/api/mail -H 'Content-Type: application/json' \\`,
    // Single-quoted for the shell; a quote in an address closes, escapes and reopens it.
    `    -d '${JSON.stringify(mail).replaceAll("'", "'\\''")}'`,
    ...(callbackUrl && embedded
      ? ["  (callbackUrl: the sandbox's https receiver, which verifies the signed callback; a line per callback below)"]
      : []),
    '',
    'Press Ctrl+C to stop.',
  ];
  return lines.join('\n');
}
