// The non-secret claims of an access token, read without verifying it (only Exchange can do that). The token
// itself stays here: callers get the claims, never the token.

export const SEND_AS_APP_ROLE = 'SMTP.SendAsApp';
/** Office 365 Exchange Online's application id, which Entra may put in `aud` instead of the resource URL. */
const EXCHANGE_APP_ID = '00000002-0000-0ff1-ce00-000000000000';

export interface TokenClaims {
  aud?: string;
  tid?: string;
  /** appid (v1 tokens) or azp (v2 tokens): the client the token was issued to. */
  appid?: string;
  /** The service principal's object id: what Exchange's New-ServicePrincipal needs. */
  oid?: string;
  roles: string[];
  /** Expiry, epoch seconds. */
  exp?: number;
}

/** undefined when the token is not a JWT (its claims cannot be shown). */
export function decodeClaims(token: string): TokenClaims | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    aud: Array.isArray(raw.aud) ? raw.aud.map(String).join(' ') : text(raw.aud),
    tid: text(raw.tid),
    appid: text(raw.appid) ?? text(raw.azp),
    oid: text(raw.oid),
    roles: Array.isArray(raw.roles) ? raw.roles.map(String) : [],
    exp: typeof raw.exp === 'number' ? raw.exp : undefined,
  };
}

/**
 * Whether the token is for Exchange Online: its URL (outlook.office365.com, or a sovereign cloud's outlook host)
 * or its application id. A token for any other resource is refused at AUTH.
 */
export function isExchangeAudience(aud: string | undefined): boolean {
  return (aud ?? '').split(' ').some((a) => a.toLowerCase() === EXCHANGE_APP_ID || /^https:\/\/[\w.-]*outlook[\w.-]*\/?$/i.test(a));
}
