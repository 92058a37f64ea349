// Access tokens shaped like the ones Entra issues for Exchange Online. The local Entra and managed identity
// endpoints issue them and the SMTP sink checks them, so a wrong, expired or foreign token fails locally the way
// it fails against Exchange. Signed with HMAC and a random per-instance key: only this process can verify them.
// Tokens are secrets: nothing here logs them or puts them in an error message.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const EXCHANGE_AUDIENCE = 'https://outlook.office365.com';
export const SMTP_SEND_AS_APP_ROLE = 'SMTP.SendAsApp';

/** Real Exchange tokens are 1.5–2.5 KB, so the XOAUTH2 AUTH line is long; local tokens are padded to match. */
const TARGET_TOKEN_LENGTH = 2048;

export interface IssueOptions {
  audience: string;
  appId: string;
  tenantId: string;
  /** Seconds from now; zero or negative gives a token that is already expired. */
  lifetimeSeconds: number;
  /** Seconds from now until the token becomes valid (nbf); for "not yet valid" tests. */
  startsInSeconds?: number;
}

export interface AccessTokenClaims {
  aud: string;
  iss: string;
  tid: string;
  appid: string;
  oid: string;
  sub: string;
  roles: string[];
  iat: number;
  nbf: number;
  exp: number;
  ver: '1.0';
  uti: string;
  /** Filler that brings the token to a realistic length. */
  pad: string;
}

export type RejectReason = 'malformed' | 'bad-signature' | 'wrong-audience' | 'not-yet-valid' | 'expired';

export type VerifyResult = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: RejectReason };

export interface TokenCounters {
  issued: number;
  accepted: number;
  rejected: number;
  rejectedBy: Record<RejectReason, number>;
}

export class TokenAuthority {
  readonly counters: TokenCounters = {
    issued: 0,
    accepted: 0,
    rejected: 0,
    rejectedBy: { malformed: 0, 'bad-signature': 0, 'wrong-audience': 0, 'not-yet-valid': 0, expired: 0 },
  };
  private readonly key = randomBytes(32);

  issue(options: IssueOptions): string {
    const now = Math.floor(Date.now() / 1000);
    // Entra's oid is the service principal's object id: the same for every token of an app.
    const objectId = stableUuid(`${options.tenantId}/${options.appId}`);
    const claims: AccessTokenClaims = {
      aud: options.audience,
      iss: `https://sts.windows.net/${options.tenantId}/`,
      tid: options.tenantId,
      appid: options.appId,
      oid: objectId,
      sub: objectId,
      roles: [SMTP_SEND_AS_APP_ROLE],
      iat: now,
      nbf: now + (options.startsInSeconds ?? 0),
      exp: now + options.lifetimeSeconds,
      ver: '1.0',
      uti: randomBytes(16).toString('base64url'),
      pad: '',
    };
    const unpadded = this.sign(claims).length;
    // The payload is base64url: every 3 characters of padding add 4 to the token.
    const padLength = Math.max(0, Math.floor(((TARGET_TOKEN_LENGTH - unpadded) * 3) / 4));
    claims.pad = randomBytes(padLength).toString('base64url').slice(0, padLength);
    this.counters.issued++;
    return this.sign(claims);
  }

  verify(token: string, expected: { audience: string }): VerifyResult {
    const result = this.check(token, expected.audience);
    if (result.ok) {
      this.counters.accepted++;
    } else {
      this.counters.rejected++;
      this.counters.rejectedBy[result.reason]++;
    }
    return result;
  }

  private check(token: string, audience: string): VerifyResult {
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'malformed' };
    const [header, payload, signature] = parts as [string, string, string];
    const expectedSignature = this.mac(`${header}.${payload}`);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expectedSignature.length || !timingSafeEqual(given, expectedSignature)) {
      return { ok: false, reason: 'bad-signature' };
    }
    let claims: AccessTokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as AccessTokenClaims;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.aud !== audience) return { ok: false, reason: 'wrong-audience' };
    if (claims.nbf > now) return { ok: false, reason: 'not-yet-valid' };
    if (claims.exp <= now) return { ok: false, reason: 'expired' };
    return { ok: true, claims };
  }

  private sign(claims: AccessTokenClaims): string {
    const header = base64UrlJson({ typ: 'JWT', alg: 'HS256' });
    const payload = base64UrlJson(claims);
    return `${header}.${payload}.${this.mac(`${header}.${payload}`).toString('base64url')}`;
  }

  private mac(data: string): Buffer {
    return createHmac('sha256', this.key).update(data).digest();
  }
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A UUID-formatted value derived from `seed`, so the same app always gets the same object id. */
function stableUuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
