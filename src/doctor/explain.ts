// The step that fixes each failure the doctor can meet. SMTP replies use the delivery worker's own table
// (classify-failure.ts), so the doctor and a failed mail's status give the same advice.
import { classifyFailure } from '../delivery/classify-failure';
import { TokenError } from '../identity/token-source';
import type { AuthMode } from '../identity/auth-mode';

const ONBOARDING =
  'Run infra/exchange/Register-ExchangeSender.ps1 for this mailbox as an Exchange administrator (README "Exchange Online setup"): ' +
  "New-ServicePrincipal with the enterprise application's object id (the token's oid above), then the role assignment " +
  '(RBAC for Applications) or FullAccess + SMTP.SendAsApp; Test-ServicePrincipalAuthorization tells which is missing. Changes take up to an hour.';

const CREDENTIAL: Record<AuthMode, string> = {
  clientSecret: 'MAIL_CLIENT_SECRET (in Azure: the Key Vault secret; new one with infra/scripts/new-client-secret.sh --rotate)',
  clientCertificate:
    'MAIL_CLIENT_CERTIFICATE (in Azure: the Key Vault certificate; new one with infra/scripts/new-client-certificate.sh --rotate)',
  federatedIdentity:
    "the app registration's federated credential (issuer, subject = the managed identity's object id, audience MAIL_FEDERATION_AUDIENCE)",
  managedIdentity: 'the managed identity assigned to the Function App',
};

// AADSTS codes that name their own fix.
const AADSTS: Record<string, (mode: AuthMode) => string> = {
  AADSTS7000215: (mode) =>
    `The client secret is wrong: ${CREDENTIAL[mode]} must be the secret's value (not its id) of a current secret of the app registration MAIL_CLIENT_ID.`,
  AADSTS7000222: (mode) => `The client secret has expired: create a new one, ${CREDENTIAL[mode]}.`,
  AADSTS700016: () =>
    "No application MAIL_CLIENT_ID in tenant MAIL_TENANT_ID: check both ids (the app registration's Application (client) ID, and the tenant it lives in).",
  AADSTS90002: () => 'Tenant MAIL_TENANT_ID does not exist: use the directory (tenant) id GUID or a verified domain of the tenant.',
  AADSTS700027: (mode) =>
    `The certificate is not registered on the app registration, or has expired: check ${CREDENTIAL[mode]} and the app's Certificates & secrets.`,
  AADSTS50049: () =>
    "MAIL_AUTHORITY_HOST is not an Entra authority: https://login.microsoftonline.com (public cloud) or your sovereign cloud's.",
  AADSTS500011: () =>
    "The resource of MAIL_TOKEN_SCOPE is not in the tenant: use https://outlook.office365.com/.default (or the sovereign cloud's Exchange URL).",
  AADSTS1002012: () => 'MAIL_TOKEN_SCOPE is not a valid scope for app-only tokens: it must end in /.default.',
  AADSTS70021: (mode) => `No federated credential matches the managed identity's token: check ${CREDENTIAL[mode]}.`,
  AADSTS700213: (mode) => `No federated credential matches the managed identity's token: check ${CREDENTIAL[mode]}.`,
  AADSTS700024: () => 'The client assertion is outside its validity time: check the machine clock.',
};

export interface Explanation {
  /** What went wrong, from the error (never a secret: TokenError and SMTP replies carry none). */
  detail: string;
  fix: string;
}

export function explainTokenError(error: unknown, mode: AuthMode): Explanation {
  const detail = error instanceof Error ? error.message : String(error);
  const code = error instanceof TokenError ? error.reason : undefined;
  const known = code ? AADSTS[code] : undefined;
  if (known) return { detail, fix: known(mode) };
  if (mode === 'managedIdentity' || mode === 'federatedIdentity' || /managed identity/i.test(detail)) {
    return {
      detail,
      fix:
        'No managed identity answered here. In Azure: assign the user-assigned identity to the Function App and set its client id ' +
        '(MAIL_CLIENT_ID or MAIL_MANAGED_IDENTITY_CLIENT_ID). Outside Azure there is none: run the doctor where the app runs, or use clientSecret/clientCertificate settings.',
    };
  }
  const failure = classifyFailure(error);
  return {
    detail,
    fix: failure.kind === 'temporary' ? `${failure.hint} If it persists, check MAIL_AUTHORITY_HOST is reachable from here.` : failure.hint,
  };
}

export function explainSmtpError(error: unknown, mailbox: string, smtp: { host: string; port: number }): Explanation {
  const e = error as { code?: string; response?: string; message?: string };
  const detail = (e.response ?? e.message ?? String(error)).trim().split('\n')[0].slice(0, 300);
  const failure = classifyFailure(error);
  switch (failure.category) {
    case 'authentication-failed':
      return { detail, fix: `Exchange refused the token for ${mailbox}. ${ONBOARDING}` };
    case 'smtp-auth-disabled':
      return {
        detail,
        fix: `Set-CASMailbox ${mailbox} -SmtpClientAuthenticationDisabled $false (SMTP AUTH must be on for the mailbox even with OAuth).`,
      };
    case 'connection-limit':
      return { detail, fix: `${mailbox} has its 3 connections in use (the app, or another client): try again when it is idle.` };
  }
  if (e.code === 'ETLS' || /STARTTLS|certificate|TLS/i.test(detail)) {
    return {
      detail,
      fix: `STARTTLS with ${smtp.host} failed: the host name must match the server's certificate, and MAIL_SMTP_TLS_MIN_VERSION must be one it offers.`,
    };
  }
  if (e.code && ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET'].includes(e.code)) {
    return {
      detail,
      fix: `No SMTP conversation with ${smtp.host}:${smtp.port}: check MAIL_SMTP_HOST and MAIL_SMTP_PORT (smtp.office365.com:587) and that outbound port ${smtp.port} is open from here.`,
    };
  }
  return { detail, fix: failure.hint };
}

/** Storage errors by status and code: the step that gives the app's identity what it needs. */
export function explainStorageError(error: unknown, what: string, role: string): Explanation {
  const e = error as { statusCode?: number; code?: string; message?: string; name?: string };
  const table = tableError(e.message);
  const label = [e.statusCode, e.code ?? table?.code ?? (e.name === 'Error' ? undefined : e.name)].filter(Boolean).join(' ');
  const message = (table?.message ?? e.message)?.split('\n')[0]!.slice(0, 200);
  const detail = [label, message].filter(Boolean).join(': ');
  if (e.statusCode === 403) {
    return {
      detail,
      fix: `Give the app's identity "${role}" on ${what} (infra/modules/rbac.bicep does; role assignments take a few minutes to apply).`,
    };
  }
  if (e.statusCode === 404)
    return { detail, fix: `${what} does not exist: the Bicep deployment creates it (azd provision); locally npm start does.` };
  if (e.name === 'CredentialUnavailableError' || /ManagedIdentityCredential/i.test(e.message ?? '')) {
    return {
      detail,
      fix: 'No managed identity here for the identity-based MailStorage connection: run the doctor where the app runs, or set MailStorage to a connection string.',
    };
  }
  return {
    detail,
    fix: "Storage did not answer: check MailStorage (or MailStorage__*ServiceUri) and the account's network rules; locally, is Azurite running (npm start)?",
  };
}

/** The tables SDK puts the service's OData error, as JSON, in the message. */
function tableError(message: string | undefined): { code?: string; message?: string } | undefined {
  if (!message?.startsWith('{')) return undefined;
  try {
    const error = (JSON.parse(message) as { 'odata.error'?: { code?: string; message?: { value?: string } } })['odata.error'];
    return error && { code: error.code, message: error.message?.value };
  } catch {
    return undefined;
  }
}
