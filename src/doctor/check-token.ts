// An access token as the app gets one, and what it says about the app to Exchange.
import type { MailConfig } from '../config';
import { TokenError, type TokenSource } from '../identity/token-source';
import { decodeClaims, isExchangeAudience, SEND_AS_APP_ROLE } from './claims';
import { explainTokenError } from './explain';
import { fail, pass, type CheckResult } from './report';

export async function checkToken(
  config: MailConfig,
  tokens: TokenSource,
  timeoutMs: number,
  now = Date.now(),
): Promise<{ check: CheckResult; token?: string }> {
  const { mode, scope } = config.auth;
  const title = `Access token (${mode}) for ${scope}`;
  let token: string;
  try {
    let timer: NodeJS.Timeout | undefined;
    // An endpoint that never answers (a blocked network) must not hold the whole check up.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TokenError(`no token within ${timeoutMs / 1000} s`, true)), timeoutMs);
    });
    token = (await Promise.race([tokens.getToken(), late]).finally(() => clearTimeout(timer))).token;
  } catch (error) {
    const { detail, fix } = explainTokenError(error, mode);
    return { check: fail('token', `${title}: not issued`, fix, { details: [detail] }) };
  }
  const claims = decodeClaims(token);
  if (!claims) return { check: pass('token', `${title}: issued (not a JWT, so its claims cannot be shown)`), token };

  const sendAsApp = claims.roles.includes(SEND_AS_APP_ROLE);
  const minutesLeft = claims.exp === undefined ? undefined : Math.floor((claims.exp * 1000 - now) / 60_000);
  const details = [
    `aud    ${claims.aud ?? '(none)'}`,
    `tid    ${claims.tid ?? '(none)'}`,
    `appid  ${claims.appid ?? '(none)'}`,
    `oid    ${claims.oid ?? '(none)'}  ← the service principal's object id, the one New-ServicePrincipal takes`,
    `roles  ${claims.roles.length > 0 ? claims.roles.join(', ') : '(none)'}`,
    `exp    ${claims.exp === undefined ? '(none)' : `${new Date(claims.exp * 1000).toISOString()} (in ${minutesLeft} min)`}`,
    sendAsApp
      ? `${SEND_AS_APP_ROLE} is granted: Exchange checks mailbox permissions (FullAccess), as in the mailboxPermission onboarding; with RBAC for Applications remove the grant.`
      : `${SEND_AS_APP_ROLE} is not granted: right for RBAC for Applications (the default); the mailboxPermission onboarding needs it with admin consent.`,
  ];
  const data = { claims, sendAsApp, minutesLeft };
  if (!isExchangeAudience(claims.aud)) {
    return {
      check: fail(
        'token',
        `${title}: not a token for Exchange Online`,
        "Exchange accepts only tokens for itself: MAIL_TOKEN_SCOPE must be https://outlook.office365.com/.default (or your cloud's Exchange URL).",
        { details, data },
      ),
      token,
    };
  }
  if (minutesLeft !== undefined && minutesLeft < 0) {
    return {
      check: fail('token', `${title}: already expired`, "The issuer's clock or this machine's is wrong: check both.", { details, data }),
      token,
    };
  }
  return { check: pass('token', `${title}: issued`, { details, data }), token };
}
