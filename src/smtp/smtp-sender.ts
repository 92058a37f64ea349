// One pooled nodemailer transport per sending mailbox, kept for the life of the process so
// connections are reused across invocations. XOAUTH2 tokens come from the shared TokenSource.
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import type Mail from 'nodemailer/lib/mailer';
import { RENEW_BEFORE_EXPIRY_MS, type TokenSource } from '../identity/token-source';

export interface SmtpOptions {
  host: string;
  port: number;
  tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  maxConnectionsPerMailbox: number;
}

export interface SentInfo {
  messageId: string;
  accepted: string[];
  rejected: string[];
  response: string;
}

export class SmtpSender {
  private readonly pools = new Map<string, Transporter<SMTPPool.SentMessageInfo>>();

  constructor(private readonly options: SmtpOptions, private readonly tokens: TokenSource) {}

  async send(mailbox: string, message: Mail.Options): Promise<SentInfo> {
    const info = await this.transportFor(mailbox).sendMail(message);
    return {
      messageId: info.messageId,
      accepted: info.accepted.map(String),
      rejected: info.rejected.map(String),
      response: info.response,
    };
  }

  /** Drops a mailbox's pool, e.g. after an authentication failure, so the next send starts clean. */
  reset(mailbox: string): void {
    this.pools.get(mailbox)?.close();
    this.pools.delete(mailbox);
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  private transportFor(mailbox: string): Transporter<SMTPPool.SentMessageInfo> {
    let transport = this.pools.get(mailbox);
    if (!transport) {
      const { host, port, tlsMinVersion, maxConnectionsPerMailbox } = this.options;
      transport = nodemailer.createTransport({
        pool: true,
        maxConnections: maxConnectionsPerMailbox,
        maxMessages: 100,
        host,
        port,
        secure: false,
        requireTLS: true, // STARTTLS or nothing: AUTH never goes over a plain connection
        tls: { minVersion: tlsMinVersion, servername: host },
        auth: { type: 'OAuth2', user: mailbox },
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 60_000,
      });
      transport.set('oauth2_provision_cb', (_user: string, renew: boolean, callback: (err: Error | null, token?: string, expires?: number) => void) => {
        this.tokens.getToken({ forceRefresh: renew }).then(
          (t) => callback(null, t.token, t.expiresOn - RENEW_BEFORE_EXPIRY_MS),
          (error: Error) => callback(error),
        );
      });
      this.pools.set(mailbox, transport);
    }
    return transport;
  }
}
