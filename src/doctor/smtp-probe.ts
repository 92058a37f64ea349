// One SMTP conversation as the app has it, minus the mail: connect, STARTTLS, AUTH XOAUTH2, QUIT.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import XOAuth2 from 'nodemailer/lib/xoauth2';
import type { SmtpOptions } from '../smtp/smtp-sender';

export interface SmtpProbeRequest {
  smtp: Pick<SmtpOptions, 'host' | 'port' | 'tlsMinVersion' | 'tlsServername'>;
  mailbox: string;
  /** The access token; used for AUTH only. */
  token: string;
  timeoutMs: number;
}

/** Resolves with the steps that succeeded; rejects with nodemailer's error (its `response` is the server's reply). */
export type SmtpProbe = (request: SmtpProbeRequest) => Promise<string[]>;

export const probeSmtp: SmtpProbe = ({ smtp, mailbox, token, timeoutMs }) =>
  new Promise((resolve, reject) => {
    const steps: string[] = [];
    const connection = new SMTPConnection({
      host: smtp.host,
      port: smtp.port,
      secure: false,
      requireTLS: true, // as the app: AUTH only after STARTTLS
      tls: { minVersion: smtp.tlsMinVersion, servername: smtp.tlsServername ?? smtp.host },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) {
        connection.close();
        reject(error);
      } else {
        resolve(steps);
      }
    };
    connection.once('error', (error: Error) => finish(error));
    connection.connect((error) => {
      if (error) return finish(error);
      steps.push('connected', connection.secure ? 'STARTTLS' : 'no TLS');
      // A token with no way to renew it: a refusal is reported as is instead of retried.
      const oauth2 = new XOAuth2({ user: mailbox, accessToken: token });
      connection.login({ user: mailbox, oauth2, method: 'XOAUTH2' }, (loginError) => {
        if (loginError) return finish(loginError);
        steps.push('AUTH XOAUTH2');
        connection.once('end', () => finish());
        connection.quit();
        steps.push('QUIT');
      });
    });
  });
