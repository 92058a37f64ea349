// The step that fixes each failure the doctor can meet. SMTP replies use the delivery worker's own table
// (classify-failure.ts), so the doctor and a failed mail's status give the same advice.
import { classifyFailure } from '../delivery/classify-failure';
import { TokenError } from '../identity/token-source';
import type { AuthMode } from '../identity/auth-mode';
import { DEFAULT_PROFILE, type SenderProfile } from '../profiles/sender-profiles';
import { DEFAULT_SETTING_NAMES, type ProfileSettingNames } from './profile-settings';

const ONBOARDING =
  'Run infra/exchange/Register-ExchangeSender.ps1 for this mailbox as an Exchange administrator (docs/deployment.md, "Exchange Online setup"): ' +
  "New-ServicePrincipal with the enterprise application's object id (the token's oid above), then the role assignment " +
  '(RBAC for Applications) or FullAccess + SMTP.SendAsApp; Test-ServicePrincipalAuthorization tells which is missing. Changes take up to an hour.';

/** The credential a mode uses, by where the profile keeps it. */
function credential(mode: AuthMode, names: ProfileSettingNames): string {
  const own = names.profile !== DEFAULT_PROFILE;
  switch (mode) {
    case 'clientSecret':
      return own
        ? `${names.secret} (in Azure: a Key Vault reference to that app registration's secret)`
        : 'MAIL_CLIENT_SECRET (in Azure: the Key Vault secret; new one with infra/scripts/new-client-secret.sh --rotate)';
    case 'clientCertificate':
      return own
        ? `${names.certificate} (in Azure: a Key Vault reference to that app registration's certificate)`
        : 'MAIL_CLIENT_CERTIFICATE (in Azure: the Key Vault certificate; new one with infra/scripts/new-client-certificate.sh --rotate)';
    case 'federatedIdentity':
      return `the app registration's federated credential (issuer, subject = the managed identity's object id, audience ${own ? 'its federationAudience' : 'MAIL_FEDERATION_AUDIENCE'})`;
    case 'managedIdentity':
      return 'the managed identity assigned to the Function App';
  }
}

// AADSTS codes that name their own fix.
const AADSTS: Record<string, (mode: AuthMode, n: ProfileSettingNames) => string> = {
  AADSTS7000215: (mode, n) =>
    `The client secret is wrong: ${credential(mode, n)} must be the secret's value (not its id) of a current secret of the app registration ${n.client}.`,
  AADSTS7000222: (mode, n) => `The client secret has expired: create a new one, ${credential(mode, n)}.`,
  AADSTS700016: (_, n) =>
    `No application ${n.client} in tenant ${n.tenant}: check both ids (the app registration's Application (client) ID, and the tenant it lives in).`,
  AADSTS90002: (_, n) => `Tenant ${n.tenant} does not exist: use the directory (tenant) id GUID or a verified domain of the tenant.`,
  AADSTS700027: (mode, n) =>
    `The certificate is not registered on the app registration, or has expired: check ${credential(mode, n)} and the app's Certificates & secrets.`,
  AADSTS50049: (_, n) =>
    `${n.authority} is not an Entra authority: https://login.microsoftonline.com (public cloud) or your sovereign cloud's.`,
  AADSTS500011: (_, n) =>
    `The resource of ${n.scope} is not in the tenant: use https://outlook.office365.com/.default (or the sovereign cloud's Exchange URL).`,
  AADSTS1002012: (_, n) => `${n.scope} is not a valid scope for app-only tokens: it must end in /.default.`,
  AADSTS70021: (mode, n) => `No federated credential matches the managed identity's token: check ${credential(mode, n)}.`,
  AADSTS700213: (mode, n) => `No federated credential matches the managed identity's token: check ${credential(mode, n)}.`,
  AADSTS700024: () => 'The client assertion is outside its validity time: check the machine clock.',
};

export interface Explanation {
  /** What went wrong, from the error (never a secret: TokenError and SMTP replies carry none). */
  detail: string;
  fix: string;
}

export function explainTokenError(error: unknown, mode: AuthMode, names: ProfileSettingNames = DEFAULT_SETTING_NAMES): Explanation {
  const detail = error instanceof Error ? error.message : String(error);
  const code = error instanceof TokenError ? error.reason : undefined;
  const known = code ? AADSTS[code] : undefined;
  if (known) return { detail, fix: known(mode, names) };
  if (mode === 'managedIdentity' || mode === 'federatedIdentity' || /managed identity/i.test(detail)) {
    const clientId =
      names.profile === DEFAULT_PROFILE
        ? 'MAIL_CLIENT_ID or MAIL_MANAGED_IDENTITY_CLIENT_ID'
        : `${names.client} or ${names.managedIdentityClient}`;
    return {
      detail,
      fix:
        `No managed identity answered here. In Azure: assign the user-assigned identity to the Function App and set its client id (${clientId}). ` +
        'Outside Azure there is none: run the doctor where the app runs, or use clientSecret/clientCertificate settings.',
    };
  }
  const failure = classifyFailure(error);
  return {
    detail,
    fix: failure.kind === 'temporary' ? `${failure.hint} If it persists, check ${names.authority} is reachable from here.` : failure.hint,
  };
}

/** What an SMTP check knows besides the error: the mailbox's profile, where its settings are, the token's tenant. */
export interface SmtpContext {
  profile: SenderProfile;
  names: ProfileSettingNames;
  /** The tid of the token offered, when it could be read. */
  tenant?: string;
}

export function explainSmtpError(error: unknown, mailbox: string, { profile, names, tenant }: SmtpContext): Explanation {
  const e = error as { code?: string; response?: string; message?: string };
  const detail = (e.response ?? e.message ?? String(error)).trim().split('\n')[0].slice(0, 300);
  const { host, port } = profile.smtp;
  const failure = classifyFailure(error);
  switch (failure.category) {
    case 'authentication-failed':
      return {
        detail,
        fix: `Exchange refused the token of profile ${profile.name}${tenant ? ` (tenant ${tenant})` : ''} for ${mailbox}. ${tenantRule(profile, names)} If it is, ${ONBOARDING}`,
      };
    case 'smtp-auth-disabled':
      return {
        detail,
        fix:
          `Set-CASMailbox ${mailbox} -SmtpClientAuthenticationDisabled $false (SMTP AUTH must be on for the mailbox even with OAuth). ` +
          'If it is on and Exchange still answers 5.7.139, Microsoft Entra security defaults are on (the default in new Microsoft 365 ' +
          'tenants) and disable SMTP AUTH for the whole tenant: turn them off (Entra admin center, Overview, Properties, Manage ' +
          'security defaults) and protect sign-ins with Conditional Access instead.',
      };
    case 'connection-limit':
      return { detail, fix: `${mailbox} has its 3 connections in use (the app, or another client): try again when it is idle.` };
  }
  if (e.code === 'ETLS' || /STARTTLS|certificate|TLS/i.test(detail)) {
    return {
      detail,
      fix: `STARTTLS with ${host} failed: the host name must match the server's certificate, and MAIL_SMTP_TLS_MIN_VERSION must be one it offers.`,
    };
  }
  if (e.code && ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET'].includes(e.code)) {
    return {
      detail,
      fix: `No SMTP conversation with ${host}:${port}: check ${names.smtpHost} and ${names.smtpPort} (smtp.office365.com:587) and that outbound port ${port} is open from here.`,
    };
  }
  return { detail, fix: failure.hint };
}

// Exchange refuses another tenant's token exactly as it refuses a missing permission (535 5.7.3), so the cheaper
// check comes first.
function tenantRule(profile: SenderProfile, names: ProfileSettingNames): string {
  const where = profile.auth.mode === 'managedIdentity' ? "the managed identity's tenant" : names.tenant;
  return (
    `Exchange takes only a token of the mailbox's own tenant, so the profile's tenant must be the mailbox's tenant: check ${where}, ` +
    'and give a mailbox of another tenant a profile of its own in MAIL_SENDER_PROFILES.'
  );
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
