// Sends one envelope. Returns the outcome when it is final; throws RetryableDeliveryError when the
// host should try again later (the queue message becomes visible again).
import type Mail from 'nodemailer/lib/mailer';
import { isAllowedSender } from '../config';
import { composeMessage } from '../mail/compose';
import { senderOf } from '../mail/addresses';
import type { Envelope } from '../mail/envelope';
import type { TokenSource } from '../identity/token-source';
import type { SentInfo, SmtpSender } from '../smtp/smtp-sender';
import type { Logger } from '../logger';
import { classifyFailure, type Failure } from './classify-failure';

export interface DeliveryDeps {
  allowedSenders: readonly string[];
  tokens: TokenSource;
  smtp: Pick<SmtpSender, 'send' | 'reset'>;
  log: Logger;
}

export type DeliveryOutcome = { status: 'sent'; info: SentInfo } | { status: 'failed'; failure: Failure };

export class RetryableDeliveryError extends Error {
  constructor(readonly failure: Failure) {
    super(`${failure.category}: ${failure.reply?.text ?? failure.hint}`);
    this.name = 'RetryableDeliveryError';
  }
}

export async function deliver(envelope: Envelope, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const sender = senderOf(envelope.mail);
  if (!isAllowedSender(sender, deps.allowedSenders)) {
    return { status: 'failed', failure: { kind: 'permanent', category: 'sender-not-allowed', hint: `${sender} is not in MAIL_ALLOWED_SENDERS.` } };
  }
  const message = composeMessage(envelope);
  let result = await attempt(sender, message, deps, false);
  if (!result.ok && result.failure.kind === 'reauthenticate') {
    // One more try with a token fresh from the endpoint and a new connection.
    deps.log.warn(`Message ${envelope.id}: ${result.failure.reply?.text ?? result.failure.category}; retrying once with a fresh token.`);
    deps.smtp.reset(sender);
    result = await attempt(sender, message, deps, true);
    if (!result.ok && result.failure.kind === 'reauthenticate') result = { ok: false, failure: { ...result.failure, kind: 'permanent' } };
  }
  if (result.ok) return { status: 'sent', info: result.info };
  if (result.failure.kind === 'permanent') return { status: 'failed', failure: result.failure };
  throw new RetryableDeliveryError(result.failure);
}

type Attempt = { ok: true; info: SentInfo } | { ok: false; failure: Failure };

async function attempt(sender: string, message: Mail.Options, deps: DeliveryDeps, freshToken: boolean): Promise<Attempt> {
  try {
    // Asking first keeps token failures apart from SMTP ones; the cached token makes it free.
    await deps.tokens.getToken({ forceRefresh: freshToken });
    return { ok: true, info: await deps.smtp.send(sender, message) };
  } catch (error) {
    return { ok: false, failure: classifyFailure(error) };
  }
}
