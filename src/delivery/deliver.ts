// One SMTP attempt for one mail, with Exchange's one allowed re-authentication. Returns what
// happened; deciding between retry, deferral and final failure is the worker's job.
import { Readable } from 'node:stream';
import type Mail from 'nodemailer/lib/mailer';
import type { TokenSource } from '../identity/token-source';
import type { SentInfo, SmtpSender } from '../smtp/smtp-sender';
import type { Logger } from '../logger';
import { classifyFailure, type Failure } from './classify-failure';
import { SpanKind } from '@opentelemetry/api';
import { inSpan } from '../telemetry/spans';
import { instruments } from '../telemetry/instruments';

export interface DeliveryDeps {
  tokens: TokenSource;
  smtp: Pick<SmtpSender, 'send' | 'reset'>;
  log: Logger;
}

export type DeliveryOutcome = { ok: true; info: SentInfo } | { ok: false; failure: Failure };

/** A message to send: the first attempt's message already open, and how to open it again for a second attempt. */
export interface Outgoing {
  id: string;
  createdAt: string;
  sender: string;
  recipients: number;
  message: Mail.Options;
  reopen(): Promise<Mail.Options>;
}

export async function deliver(outgoing: Outgoing, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const { sender } = outgoing;
  instruments().queueAge.record(Math.max(0, Date.now() - Date.parse(outgoing.createdAt)) / 1000);
  const first = await attempt(outgoing, outgoing.message, deps, false);
  if (first.ok || first.failure.kind !== 'reauthenticate') return first;

  // Exchange answers 535 for a stale token as well as for missing setup: one more try with a token
  // fresh from the endpoint and a new connection tells them apart.
  deps.log.warn(`Message ${outgoing.id}: ${first.failure.reply?.text ?? first.failure.category}; retrying once with a fresh token.`);
  deps.smtp.reset(sender);
  let again: Mail.Options;
  try {
    again = await outgoing.reopen();
  } catch (error) {
    return { ok: false, failure: classifyFailure(error) };
  }
  const second = await attempt(outgoing, again, deps, true);
  if (!second.ok && second.failure.kind === 'reauthenticate') return { ok: false, failure: { ...second.failure, kind: 'permanent' } };
  return second;
}

async function attempt(outgoing: Outgoing, message: Mail.Options, deps: DeliveryDeps, freshToken: boolean): Promise<DeliveryOutcome> {
  const { sender, recipients } = outgoing;
  try {
    // Asking first keeps token failures apart from SMTP ones; the cached token makes it free.
    await inSpan(
      'mail.token',
      { 'mail.token.fresh': freshToken },
      () => deps.tokens.getToken({ forceRefresh: freshToken, mailbox: sender }),
      {
        kind: SpanKind.CLIENT,
      },
    );
    return {
      ok: true,
      info: await inSpan('mail.smtp.send', { 'mail.attempt.fresh_token': freshToken }, () => deps.smtp.send(sender, message, recipients), {
        kind: SpanKind.CLIENT,
      }),
    };
  } catch (error) {
    return { ok: false, failure: classifyFailure(error) };
  } finally {
    release(message);
  }
}

/** A message streamed from storage that was not read to the end (refused, throttled) lets go of its connection. */
export function release(message: Mail.Options): void {
  if (message.raw instanceof Readable && !message.raw.readableEnded) message.raw.destroy();
}
