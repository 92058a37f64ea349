// Recognises the caller of an HTTP request: a Microsoft Entra access token (Authorization: Bearer), or a caller
// key presented the way function keys are (x-functions-key header or code query parameter).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Caller } from './caller-policy';
import type { TokenCheck } from './entra-token';

export interface AuthenticatedCaller {
  caller: Caller;
  /** App roles of an Entra caller's token; undefined for key callers. */
  roles?: string[];
  /**
   * Whom the caller's messages, Idempotency-Keys, quota and callback secret belong to, when that is not the caller
   * entry itself: an `entraRole` entry admits every application holding the role, each as `<name>:<app id>`.
   */
  principal?: string;
}

/** The owner of what a caller does: its calling application under an `entraRole` entry, else the entry's name. */
export function principalOf({ caller, principal }: AuthenticatedCaller): string {
  return principal ?? caller.name;
}

export type Authentication = { ok: true; value: AuthenticatedCaller } | { ok: false; status: 401 | 403 | 503; detail: string };

export interface CredentialSource {
  header(name: string): string | null;
  query(name: string): string | null;
}

export type TokenVerifier = (token: string) => Promise<TokenCheck>;

const MAX_CREDENTIAL_LENGTH = 16 * 1024;

export function createAuthenticator(callers: readonly Caller[], verifyToken: TokenVerifier | undefined) {
  const keyed = callers.filter((c) => c.keySha256).map((c) => ({ caller: c, hash: Buffer.from(c.keySha256!, 'hex') }));
  return async function authenticate(request: CredentialSource): Promise<Authentication> {
    const authorization = request.header('authorization');
    const key = request.header('x-functions-key') ?? request.query('code');
    if (authorization !== null && authorization.length <= MAX_CREDENTIAL_LENGTH) {
      const bearer = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization.trim());
      if (!bearer) return refused(401, 'The Authorization header must be "Bearer <access token>".');
      if (!verifyToken) return refused(401, 'This API accepts no Entra tokens (no MAIL_CALLERS entry has entraAppId or entraRole).');
      const check = await verifyToken(bearer[1]);
      if (!check.ok)
        return check.unavailable
          ? refused(503, `Could not check the token: ${check.reason}.`)
          : refused(401, `The access token was refused: ${check.reason}.`);
      const { appId, roles } = check.identity;
      const own = callers.find((c) => c.entraAppId === appId);
      if (own) return { ok: true, value: { caller: own, roles } };
      const byRole = callers.find((c) => c.entraRole && roles.includes(c.entraRole));
      if (!byRole) return refused(403, `Application ${appId} is not a caller of this API (MAIL_CALLERS).`);
      // One policy for every holder of the role, but each application is its own principal.
      return { ok: true, value: { caller: byRole, roles, principal: `${byRole.name}:${appId}` } };
    }
    if (key !== null && key.length <= MAX_CREDENTIAL_LENGTH) {
      const hash = createHash('sha256').update(key).digest();
      // Compare with every entry, so the time taken says nothing about which one matched.
      const matches = keyed.filter((entry) => timingSafeEqual(entry.hash, hash));
      if (matches.length === 1) return { ok: true, value: { caller: matches[0].caller } };
      return refused(401, 'The key is not valid.');
    }
    return refused(401, 'Authenticate with an Entra access token (Authorization: Bearer) or a caller key (x-functions-key header).');
  };
}

/**
 * Whether an authenticated caller may do an operation that needs one of `needed` (OPERATION_ROLES). An Entra token
 * must carry one of those app roles; a key caller is bound by its policy alone (a key carries no roles).
 */
export function authorize(who: AuthenticatedCaller, needed: readonly string[], operation: string): Authentication {
  if (!who.roles || needed.some((role) => who.roles!.includes(role))) return { ok: true, value: who };
  return refused(
    403,
    `The access token of ${principalOf(who)} does not carry the app role ${needed.join(' or ')}, which ${operation} needs.`,
  );
}

function refused(status: 401 | 403 | 503, detail: string): Authentication {
  return { ok: false, status, detail };
}
