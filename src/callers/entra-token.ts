// Verifies Microsoft Entra access tokens presented to the API: signature against the tenant's published keys,
// issuer, audience, expiry. jose does the cryptography and caches the key set (refetching on an unknown key id).
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';

export interface EntraTokenOptions {
  authorityHost: string;
  tenantId: string;
  /** Accepted `aud` values: the API's application ID URI and/or its client id. */
  audiences: readonly string[];
}

export interface EntraIdentity {
  /** The calling application's client id (v2 `azp`, v1 `appid`). */
  appId: string;
  roles: string[];
}

/** `unavailable`: the tenant's keys could not be had, which is our problem, not the caller's. */
export type TokenCheck = { ok: true; identity: EntraIdentity } | { ok: false; reason: string; unavailable?: boolean };

/** v1 tokens name the tenant under the security token service of the cloud, v2 tokens under the authority host. */
function issuers(authorityHost: string, tenantId: string): string[] {
  const v1 = new URL(authorityHost).host === 'login.chinacloudapi.cn' ? 'https://sts.chinacloudapi.cn' : 'https://sts.windows.net';
  return [`${authorityHost}/${tenantId}/v2.0`, `${v1}/${tenantId}/`];
}

export function createEntraTokenVerifier(options: EntraTokenOptions): (token: string) => Promise<TokenCheck> {
  const keys = createRemoteJWKSet(new URL(`${options.authorityHost}/${options.tenantId}/discovery/v2.0/keys`), { timeoutDuration: 5_000 });
  const issuer = issuers(options.authorityHost, options.tenantId);
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience: [...options.audiences],
        algorithms: ['RS256'],
        clockTolerance: 300,
        requiredClaims: ['exp', 'tid'],
      }));
    } catch (error) {
      if (!(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
        return { ok: false, reason: 'the tenant keys could not be fetched', unavailable: true };
      }
      return { ok: false, reason: describe(error) };
    }
    if (String(payload.tid).toLowerCase() !== options.tenantId.toLowerCase()) return { ok: false, reason: 'token of another tenant' };
    // App-only tokens only: a delegated token acts for a signed-in user (scp names its delegated scopes; idtyp, an
    // optional claim the API's registration asks for, says "user"), and no user is a caller of this API.
    if (payload.scp !== undefined || (payload.idtyp !== undefined && payload.idtyp !== 'app'))
      return { ok: false, reason: 'a delegated (user) token: this API takes app-only tokens (client credentials, managed identity)' };
    const appId = typeof payload.azp === 'string' ? payload.azp : typeof payload.appid === 'string' ? payload.appid : undefined;
    if (!appId) return { ok: false, reason: 'an app-only token names its client in azp or appid' };
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [];
    return { ok: true, identity: { appId: appId.toLowerCase(), roles } };
  };
}

/** Why a token was refused, in words a caller can act on; never the token. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `token claim "${error.claim}" is not accepted here`;
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey)
    return 'token signature does not verify against the tenant keys';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not accepted';
  return 'not a valid access token';
}
