// What a failed send means and what to do about it, following Exchange Online's replies
// (see docs/operations.md, "Troubleshooting"). The hint is for a person; the kind drives retries.
import { TokenError } from '../identity/token-source';
import { ThrottledError } from '../smtp/smtp-sender';

export type FailureKind =
  | 'temporary' // retry later with backoff
  | 'permanent' // record once, never retry
  | 'quota' // defer for hours without using up retries
  | 'reauthenticate' // one retry with a freshly acquired token
  | 'throttled'; // our own per-mailbox governor said wait: defer without using up retries

export interface Failure {
  kind: FailureKind;
  category: string;
  hint: string;
  reply?: { code?: number; text: string };
  retryAfterMs?: number;
}

interface Rule {
  test: RegExp;
  kind: FailureKind;
  category: string;
  hint: string;
}

const PERMISSION_HINT =
  'Check the Exchange setup: New-ServicePrincipal with the enterprise application (service principal) object id, ' +
  'then RBAC for Applications ("Application SMTP.SendAsApp" role assignment) or SMTP.SendAsApp with admin consent plus FullAccess on the mailbox. ' +
  "With sender profiles, also check that the sender's profile (MAIL_SENDER_PROFILES) names the mailbox's own tenant: Exchange takes only a token of that tenant.";

/**
 * Microsoft Entra security defaults, on in new Microsoft 365 tenants, disable SMTP AUTH for the whole tenant above the
 * per-mailbox setting, so Set-CASMailbox alone still gets 5.7.139 there.
 */
export const SMTP_AUTH_DISABLED_HINT =
  'SMTP AUTH is disabled for the mailbox or tenant: Set-CASMailbox <mailbox> -SmtpClientAuthenticationDisabled $false. ' +
  'If it still fails, Microsoft Entra security defaults are on (the default in new Microsoft 365 tenants) and disable SMTP AUTH ' +
  'whatever the mailbox says: turn them off (Entra admin center, Overview, Properties, Manage security defaults) and protect sign-ins ' +
  'with Conditional Access instead.';

// First match wins: specific enhanced status codes before the generic 4xx/5xx split.
const RULES: Rule[] = [
  {
    test: /\b5\.7\.139\b/,
    kind: 'permanent',
    category: 'smtp-auth-disabled',
    hint: SMTP_AUTH_DISABLED_HINT,
  },
  {
    test: /\b5\.5\.127\b|Token will expire soon/i,
    kind: 'reauthenticate',
    category: 'token-expiring',
    hint: 'The token was close to expiry; a fresh one is requested.',
  },
  { test: /^535\b|\b5\.7\.3\b/, kind: 'reauthenticate', category: 'authentication-failed', hint: PERMISSION_HINT },
  {
    test: /SubmissionQuotaExceeded|\b5\.1\.90\b|5\.2\.2 Submission quota/i,
    kind: 'quota',
    category: 'daily-quota',
    hint: 'The mailbox reached its daily recipient limit (10,000 in 24 h); sending resumes later.',
  },
  {
    test: /\b5\.7\.23[23]\b/,
    kind: 'quota',
    category: 'tenant-rate-limit',
    hint: 'The tenant reached its external recipient rate limit; sending resumes later.',
  },
  {
    test: /\b5\.2\.2\b.*mailbox (is )?full|mailbox full/i,
    kind: 'permanent',
    category: 'mailbox-full',
    hint: 'The sending mailbox is full (SMTP submissions are kept in Sent Items): clean it up or raise its quota.',
  },
  {
    test: /^432\b|\b4\.3\.2\b/,
    kind: 'temporary',
    category: 'connection-limit',
    hint: 'Too many concurrent connections for the mailbox; retrying with fewer.',
  },
  {
    test: /^430\b.*STOREDRV|\b4\.2\.0\b.*STOREDRV/i,
    kind: 'temporary',
    category: 'mailbox-logon-failure',
    hint: `Exchange could not log on to the mailbox, often a missing mailbox permission. ${PERMISSION_HINT}`,
  },
  {
    test: /\b5\.7\.60\b|SendAsDenied/i,
    kind: 'permanent',
    category: 'send-as-denied',
    hint: 'The identity may not send as this From address: grant SendAs (Add-RecipientPermission) or use the mailbox itself as From.',
  },
  {
    test: /\b5\.7\.57\b/,
    kind: 'permanent',
    category: 'not-authenticated',
    hint: 'The server saw no authenticated TLS session: check MAIL_SMTP_HOST / MAIL_SMTP_PORT (587, STARTTLS).',
  },
  {
    test: /^552\b|\b5\.3\.4\b|MaxSubmissionExceeded/i,
    kind: 'permanent',
    category: 'message-too-large',
    hint: 'The message exceeds the mailbox or tenant size limit (35 MB by default).',
  },
  {
    test: /\b5\.1\.8\b|\b5\.7\.50[1-3]\b|\b5\.7\.70[58]\b/,
    kind: 'permanent',
    category: 'sender-blocked',
    hint: 'The sender or tenant is blocked from sending (often after spam detection): check the Restricted entities page in Microsoft Defender.',
  },
  {
    test: /\b4\.7\.[5-6]\d\d\b/,
    kind: 'temporary',
    category: 'temporary-restriction',
    hint: 'Exchange is temporarily restricting this sender; retrying later.',
  },
  { test: /^4\d\d\b/, kind: 'temporary', category: 'temporary-reply', hint: 'The server asked to try again later.' },
  { test: /^5\d\d\b/, kind: 'permanent', category: 'rejected', hint: 'The server rejected the message; see the reply.' },
];

const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETLS',
  'EPROTOCOL',
]);

export function classifyFailure(error: unknown): Failure {
  if (error instanceof ThrottledError) {
    return { kind: 'throttled', category: error.reason, hint: `${error.message}; sending later.`, retryAfterMs: error.retryAfterMs };
  }
  if (error instanceof TokenError) {
    const reply = { text: error.message };
    return error.transient
      ? { kind: 'temporary', category: 'token-unavailable', hint: 'The token endpoint failed; retrying later.', reply }
      : {
          kind: 'permanent',
          category: 'token-configuration',
          hint: `The token request was refused (${error.reason ?? 'see reply'}): check MAIL_TENANT_ID, MAIL_CLIENT_ID and the secret or certificate.`,
          reply,
        };
  }
  const e = error as { code?: string; responseCode?: number; response?: string; message?: string };
  const text = typeof e.response === 'string' ? e.response.trim() : undefined;
  if (text) {
    const reply = { code: e.responseCode || Number(text.slice(0, 3)) || undefined, text: text.slice(0, 1000) };
    const rule = RULES.find((r) => r.test.test(text));
    if (rule) return { kind: rule.kind, category: rule.category, hint: rule.hint, reply };
  }
  if (e.code && CONNECTION_CODES.has(e.code)) {
    return {
      kind: 'temporary',
      category: 'connection',
      hint: `Connection to the SMTP server failed (${e.code}); retrying later.`,
      reply: { text: String(e.message).slice(0, 300) },
    };
  }
  return {
    kind: 'temporary',
    category: 'unexpected',
    hint: 'Unexpected error; retrying later.',
    reply: { text: String(e.message ?? error).slice(0, 300) },
  };
}
