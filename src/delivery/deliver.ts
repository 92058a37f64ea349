// One SMTP attempt for one mail, with Exchange's one allowed re-authentication. Returns what
// happened; deciding between retry, deferral and final failure is the worker's job.
import type Mail from 'nodemailer/lib/mailer';
import { composeMessage, type OutgoingMail } from '../mail/compose';
import { senderOf } from '../mail/addresses';
import type { TokenSource } from '../identity/token-source';
import type { SentInfo, SmtpSender } from '../smtp/smtp-sender';
import type { Logger } from '../logger';
import { classifyFailure, type Failure } from './classify-failure';
import { inSpan } from '../telemetry/spans';
import { instruments } from '../telemetry/instruments';

export interface DeliveryDeps {
  tokens: TokenSource;
  smtp: Pick<SmtpSender, 'send' | 'reset'>;
  log: Logger;
}

export type DeliveryOutcome = { ok: true; info: SentInfo } | { ok: false; failure: Failure };

export async function deliver(outgoing: OutgoingMail, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const sender = senderOf(outgoing.mail);
  const message = composeMessage(outgoing);
  instruments().queueAge.record(Math.max(0, Date.now() - Date.parse(outgoing.createdAt)));
  const first = await attempt(sender, message, deps, false);
  if (first.ok || first.failure.kind !== 'reauthenticate') return first;

  // Exchange answers 535 for a stale token as well as for missing setup: one more try with a token
  // fresh from the endpoint and a new connection tells them apart.
  deps.log.warn(`Message ${outgoing.id}: ${first.failure.reply?.text ?? first.failure.category}; retrying once with a fresh token.`);
  deps.smtp.reset(sender);
  const second = await attempt(sender, message, deps, true);
  if (!second.ok && second.failure.kind === 'reauthenticate') return { ok: false, failure: { ...second.failure, kind: 'permanent' } };
  return second;
}

async function attempt(sender: string, message: Mail.Options, deps: DeliveryDeps, freshToken: boolean): Promise<DeliveryOutcome> {
  try {
    // Asking first keeps token failures apart from SMTP ones; the cached token makes it free.
    await inSpan('mail.token', { 'mail.token.fresh': freshToken }, () =>
      deps.tokens.getToken({ forceRefresh: freshToken, mailbox: sender }),
    );
    return {
      ok: true,
      info: await inSpan('mail.smtp.send', { 'mail.attempt.fresh_token': freshToken }, () => deps.smtp.send(sender, message)),
    };
  } catch (error) {
    return { ok: false, failure: classifyFailure(error) };
  }
}
