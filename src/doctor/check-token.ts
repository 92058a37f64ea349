// An access token as the app gets one for a sender profile, and what it says about the app to Exchange.
import { TokenError, type TokenSource } from '../identity/token-source';
import { DEFAULT_PROFILE, type SenderProfile } from '../profiles/sender-profiles';
import { decodeClaims, isExchangeAudience, SEND_AS_APP_ROLE } from './claims';
import { explainTokenError } from './explain';
import type { ProfileSettingNames } from './profile-settings';
import { fail, pass, type CheckResult } from './report';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TokenChecked {
  check: CheckResult;
  token?: string;
  /** The token's tid, for the SMTP checks' advice. */
  tenant?: string;
}

/** "token" for the default profile (as before profiles existed), "token:<name>" for the others. */
export const tokenCheckId = (profile: string) => (profile === DEFAULT_PROFILE ? 'token' : `token:${profile}`);

export async function checkToken(
  profile: SenderProfile,
  tokens: TokenSource,
  names: ProfileSettingNames,
  timeoutMs: number,
  now = Date.now(),
): Promise<TokenChecked> {
  const { mode, scope } = profile.auth;
  const id = tokenCheckId(profile.name);
  const title = `Access token (profile ${profile.name}, ${mode}) for ${scope}`;
  let token: string;
  try {
    let timer: NodeJS.Timeout | undefined;
    // An endpoint that never answers (a blocked network) must not hold the whole check up.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TokenError(`no token within ${timeoutMs / 1000} s`, true)), timeoutMs);
    });
    token = (await Promise.race([tokens.getToken(), late]).finally(() => clearTimeout(timer))).token;
  } catch (error) {
    const { detail, fix } = explainTokenError(error, mode, names);
    return { check: fail(id, `${title}: not issued`, fix, { details: [detail], data: { profile: profile.name } }) };
  }
  const claims = decodeClaims(token);
  if (!claims)
    return { check: pass(id, `${title}: issued (not a JWT, so its claims cannot be shown)`, { data: { profile: profile.name } }), token };

  const sendAsApp = claims.roles.includes(SEND_AS_APP_ROLE);
  const minutesLeft = claims.exp === undefined ? undefined : Math.floor((claims.exp * 1000 - now) / 60_000);
  const tenant = tenantOf(claims.tid, profile);
  const details = [
    `aud    ${claims.aud ?? '(none)'}`,
    `tid    ${claims.tid ?? '(none)'}${tenant.note}`,
    `appid  ${claims.appid ?? '(none)'}`,
    `oid    ${claims.oid ?? '(none)'}  ← the service principal's object id, the one New-ServicePrincipal takes`,
    `roles  ${claims.roles.length > 0 ? claims.roles.join(', ') : '(none)'}`,
    `exp    ${claims.exp === undefined ? '(none)' : `${new Date(claims.exp * 1000).toISOString()} (in ${minutesLeft} min)`}`,
    sendAsApp
      ? `${SEND_AS_APP_ROLE} is granted: Exchange checks mailbox permissions (FullAccess), as in the mailboxPermission onboarding; with RBAC for Applications remove the grant.`
      : `${SEND_AS_APP_ROLE} is not granted: right for RBAC for Applications (the default); the mailboxPermission onboarding needs it with admin consent.`,
  ];
  const data = { profile: profile.name, claims, sendAsApp, minutesLeft, tenantMatches: tenant.matches };
  const found = { token, tenant: claims.tid };
  if (!isExchangeAudience(claims.aud)) {
    return {
      ...found,
      check: fail(
        id,
        `${title}: not a token for Exchange Online`,
        `Exchange accepts only tokens for itself: ${names.scope} must be https://outlook.office365.com/.default (or your cloud's Exchange URL).`,
        { details, data },
      ),
    };
  }
  if (tenant.matches === false) {
    return {
      ...found,
      check: fail(
        id,
        `${title}: issued for tenant ${claims.tid ?? '(none)'}, not the profile's tenant ${profile.auth.tenantId}`,
        `Exchange takes only a token of the mailbox's own tenant, and this one is of another tenant than ${names.tenant} names: check ${names.tenant} and ${names.authority}.`,
        { details, data },
      ),
    };
  }
  if (minutesLeft !== undefined && minutesLeft < 0) {
    return {
      ...found,
      check: fail(id, `${title}: already expired`, "The issuer's clock or this machine's is wrong: check both.", { details, data }),
    };
  }
  return { ...found, check: pass(id, `${title}: issued`, { details, data }) };
}

/**
 * Whether the token's tenant is the profile's: comparable only when the profile names its tenant by id (a domain
 * name is resolved by Entra, so any tid may be right); undefined when it cannot be told.
 */
function tenantOf(tid: string | undefined, profile: SenderProfile): { matches?: boolean; note: string } {
  const expected = profile.auth.tenantId;
  if (!expected)
    return { note: profile.auth.mode === 'managedIdentity' ? "  ← the managed identity's tenant (the profile names none)" : '' };
  if (!GUID.test(expected)) return { note: `  ← the tenant ${expected} names` };
  const matches = tid?.toLowerCase() === expected.toLowerCase();
  return { matches, note: matches ? "  ← the profile's tenant" : `  ← not the profile's tenant ${expected}` };
}
