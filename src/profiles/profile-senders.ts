// One token source and one SMTP sender per sender profile, behind the single token source and SMTP sender the worker
// already uses: each call is routed by the sending mailbox, so a token of one tenant is never offered for another
// tenant's mailbox. Identical credentials (mode, tenant, client, scope, authority) share one token source and cache.
import type { TokenSource, TokenSourceOptions } from '../identity/token-source';
import type { SentInfo } from '../smtp/smtp-sender';
import type { Pacing } from '../governor/pacing';
import type Mail from 'nodemailer/lib/mailer';
import { profileFor, type SenderProfile } from './sender-profiles';

export interface ProfileSmtp {
  send(mailbox: string, message: Mail.Options, recipients: number): Promise<SentInfo>;
  reset(mailbox: string): void;
  close(): Promise<void>;
}

/** A profile's SMTP sender and the pacing of its mailboxes (its limits, its tenant). */
export interface ProfileSending {
  smtp: ProfileSmtp;
  pacing: Pacing;
}

export interface ProfileRouting {
  /** Takes `mailbox` to choose the profile; without one, the default profile's token. */
  tokens: TokenSource;
  smtp: ProfileSmtp;
  pacing: Pacing;
  profileOf(this: void, sender: string): string;
  /** Token sources created, one per distinct credential (token requests are counted per profile by these). */
  tokenSources: ReadonlyMap<string, TokenSource>;
}

export interface ProfileParts {
  createTokenSource(options: TokenSourceOptions): TokenSource;
  createSending(profile: SenderProfile, tokens: TokenSource): ProfileSending;
}

const credentialKey = (a: TokenSourceOptions) =>
  [a.mode, a.authorityHost, a.tenantId ?? '', a.clientId ?? '', a.managedIdentityClientId ?? '', a.scope].join('|');

export function routeByProfile(fallback: SenderProfile, profiles: readonly SenderProfile[], parts: ProfileParts): ProfileRouting {
  const tokenSources = new Map<string, TokenSource>();
  const senders = new Map<string, ProfileSending & { profile: SenderProfile; tokens: TokenSource }>();
  for (const profile of [fallback, ...profiles]) {
    const key = credentialKey(profile.auth);
    let tokens = tokenSources.get(key);
    if (!tokens) tokenSources.set(key, (tokens = parts.createTokenSource(profile.auth)));
    senders.set(profile.name, { profile, tokens, ...parts.createSending(profile, tokens) });
  }
  const of = (mailbox: string | undefined) => senders.get(mailbox ? profileFor(mailbox, profiles, fallback).name : fallback.name)!;
  return {
    tokens: { getToken: (options) => of(options?.mailbox).tokens.getToken(options) },
    smtp: {
      send: (mailbox, message, recipients) => of(mailbox).smtp.send(mailbox, message, recipients),
      reset: (mailbox) => of(mailbox).smtp.reset(mailbox),
      close: async () => void (await Promise.all([...senders.values()].map((s) => s.smtp.close()))),
    },
    pacing: {
      schedule: (mailbox, recipients) => of(mailbox).pacing.schedule(mailbox, recipients),
      hold: (mailbox, reason, until) => of(mailbox).pacing.hold(mailbox, reason, until),
    },
    profileOf: (sender) => of(sender).profile.name,
    tokenSources,
  };
}
