// The one place app settings are read and checked. Every setting the code reads is listed in SETTINGS,
// so tests can compare it with what infra/ sets.

export type AuthMode = 'managedIdentity' | 'clientSecret' | 'clientCertificate' | 'federatedIdentity';

export interface StorageConnection {
  /** A connection string (Azurite, or an account key where shared keys are allowed). */
  connectionString?: string;
  /** Identity-based connection: service endpoints plus an optional user-assigned identity client id. */
  queueServiceUri?: string;
  blobServiceUri?: string;
  tableServiceUri?: string;
  clientId?: string;
}

export interface MailConfig {
  auth: {
    mode: AuthMode;
    tenantId?: string;
    clientId?: string;
    clientSecret?: string;
    clientCertificatePem?: string;
    managedIdentityClientId?: string;
    federationAudience: string;
    authorityHost: string;
    scope: string;
  };
  smtp: {
    host: string;
    port: number;
    tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
    maxConnectionsPerMailbox: number;
  };
  allowedSenders: string[];
  defaultSender?: string;
  queueName: string;
  statusTable: string;
  payloadContainer: string;
  governorContainer: string;
  maxMessagesPerMinute: number;
  maxMessageBytes: number;
  /** Origin the status URLs in Location headers start with; relative URLs when unknown. */
  publicBaseUrl?: string;
  storage: StorageConnection;
}

/** The connection name used by the queue trigger binding and by our own storage clients. */
export const STORAGE_CONNECTION = 'MailStorage';

interface SettingSpec {
  name: string;
  required: 'always' | 'optional' | string;
  description: string;
  default?: string;
}

/** Every app setting the code reads, with defaults. README's configuration table is kept in step with this. */
export const SETTINGS: readonly SettingSpec[] = [
  { name: 'MAIL_AUTH_MODE', required: 'always', description: '`managedIdentity`, `clientSecret`, `clientCertificate` or `federatedIdentity`: how the access token is obtained (see Authentication modes).' },
  { name: 'MAIL_TENANT_ID', required: 'clientSecret, clientCertificate, federatedIdentity', description: 'Entra tenant id (GUID) or domain of the app registration.' },
  { name: 'MAIL_CLIENT_ID', required: 'clientSecret, clientCertificate, federatedIdentity', description: 'App registration client id; in `managedIdentity` mode the client id of a user-assigned identity (empty: system-assigned).' },
  { name: 'MAIL_CLIENT_SECRET', required: 'clientSecret', description: 'Client secret. In Azure a Key Vault reference, never the value.' },
  { name: 'MAIL_CLIENT_CERTIFICATE', required: 'clientCertificate', description: 'PEM with the certificate and its private key. In Azure a Key Vault reference.' },
  { name: 'MAIL_MANAGED_IDENTITY_CLIENT_ID', required: 'optional', description: '`federatedIdentity`: client id of the user-assigned identity the app registration trusts (empty: system-assigned).' },
  { name: 'MAIL_FEDERATION_AUDIENCE', required: 'optional', default: 'api://AzureADTokenExchange', description: '`federatedIdentity`: audience of the managed identity token presented to Entra (US Gov: `api://AzureADTokenExchangeUSGov`, China: `api://AzureADTokenExchangeChina`).' },
  { name: 'MAIL_AUTHORITY_HOST', required: 'optional', default: 'https://login.microsoftonline.com', description: 'Entra authority host (sovereign clouds: e.g. `https://login.microsoftonline.us`).' },
  { name: 'MAIL_TOKEN_SCOPE', required: 'optional', default: 'https://outlook.office365.com/.default', description: 'Token scope; managed identity uses it without `/.default`.' },
  { name: 'MAIL_SMTP_HOST', required: 'optional', default: 'smtp.office365.com', description: 'SMTP submission host.' },
  { name: 'MAIL_SMTP_PORT', required: 'optional', default: '587', description: 'SMTP port; the connection starts plain and upgrades with STARTTLS, which is required.' },
  { name: 'MAIL_SMTP_TLS_MIN_VERSION', required: 'optional', default: 'TLSv1.2', description: '`TLSv1.2` or `TLSv1.3`.' },
  { name: 'MAIL_ALLOWED_SENDERS', required: 'always', description: 'Comma-separated mailboxes that may appear in `from`; `@contoso.com` allows a whole domain.' },
  { name: 'MAIL_DEFAULT_SENDER', required: 'optional', description: 'Sender used when a request has no `from`; must be allowed.' },
  { name: 'MAIL_QUEUE_NAME', required: 'optional', default: 'mail-outbox', description: 'Outbox queue (the trigger reads `%MAIL_QUEUE_NAME%`; poison messages go to `<name>-poison`).' },
  { name: 'MAIL_STATUS_TABLE', required: 'optional', default: 'mailstatus', description: 'Table holding one status record per message.' },
  { name: 'MAIL_PAYLOAD_CONTAINER', required: 'optional', default: 'mail-payloads', description: 'Blob container for messages too large for a queue message.' },
  { name: 'MAIL_GOVERNOR_CONTAINER', required: 'optional', default: 'mail-governor', description: 'Blob container for per-mailbox connection leases and rate counters.' },
  { name: 'MAIL_MAX_CONNECTIONS_PER_MAILBOX', required: 'optional', default: '3', description: 'Concurrent SMTP connections per sending mailbox across all instances (Exchange allows 3).' },
  { name: 'MAIL_MAX_MESSAGES_PER_MINUTE', required: 'optional', default: '30', description: 'Messages per minute per sending mailbox across all instances (Exchange allows 30).' },
  { name: 'MAIL_MAX_MESSAGE_BYTES', required: 'optional', default: String(35 * 1024 * 1024), description: 'Largest accepted message (sum of decoded attachments and bodies). Exchange default is 35 MB.' },
  { name: 'MAIL_PUBLIC_BASE_URL', required: 'optional', description: 'Origin of the status URLs in `Location` headers, e.g. `https://mail.contoso.com` behind a gateway. Default: `https://` + `WEBSITE_HOSTNAME` (set by Azure); never the request\'s `Host` header.' },
  { name: STORAGE_CONNECTION, required: `\`${STORAGE_CONNECTION}\` or \`${STORAGE_CONNECTION}__queueServiceUri\``, description: 'Storage connection string (local), or identity-based: `__queueServiceUri`, `__blobServiceUri`, `__tableServiceUri`, `__credential=managedidentity`, `__clientId`.' },
  { name: `${STORAGE_CONNECTION}__queueServiceUri`, required: 'optional', description: 'Identity-based queue endpoint.' },
  { name: `${STORAGE_CONNECTION}__blobServiceUri`, required: 'optional', description: 'Identity-based blob endpoint.' },
  { name: `${STORAGE_CONNECTION}__tableServiceUri`, required: 'optional', description: 'Identity-based table endpoint.' },
  { name: `${STORAGE_CONNECTION}__credential`, required: 'optional', description: '`managedidentity` (read by the Functions host for the trigger).' },
  { name: `${STORAGE_CONNECTION}__clientId`, required: 'optional', description: 'Client id of the user-assigned identity used for storage.' },
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

import { isAllowedSender } from './mail/senders';

type Env = Record<string, string | undefined>;

const EMAIL = /^[^\s@<>(),;:"[\]\\]+@[^\s@<>(),;:"[\]\\]+\.[^\s@<>(),;:"[\]\\]+$/;

export function loadConfig(env: Env = process.env): MailConfig {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const withDefault = (name: string): string => read(name) ?? SETTINGS.find((s) => s.name === name)!.default!;
  const int = (name: string, min: number, max: number): number => {
    const raw = withDefault(name);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
      return min;
    }
    return value;
  };
  const url = (name: string): string => {
    const raw = withDefault(name);
    try {
      const parsed = new URL(raw);
      if (parsed.protocol !== 'https:') problems.push(`${name}: must be an https URL, got "${raw}"`);
    } catch {
      problems.push(`${name}: not a URL: "${raw}"`);
    }
    return raw.replace(/\/+$/, '');
  };
  const required = (name: string, why: string): string | undefined => {
    const value = read(name);
    if (!value) problems.push(`${name}: required ${why}`);
    return value;
  };

  const mode = read('MAIL_AUTH_MODE');
  const modes: AuthMode[] = ['managedIdentity', 'clientSecret', 'clientCertificate', 'federatedIdentity'];
  if (!mode || !modes.includes(mode as AuthMode)) {
    problems.push(`MAIL_AUTH_MODE: must be one of ${modes.join(', ')}, got "${mode ?? ''}"`);
  }
  const authMode = (mode ?? 'managedIdentity') as AuthMode;
  const appMode = authMode !== 'managedIdentity';
  const tenantId = appMode ? required('MAIL_TENANT_ID', `when MAIL_AUTH_MODE=${authMode}`) : read('MAIL_TENANT_ID');
  const clientId = appMode ? required('MAIL_CLIENT_ID', `when MAIL_AUTH_MODE=${authMode}`) : read('MAIL_CLIENT_ID');
  const clientSecret = authMode === 'clientSecret' ? required('MAIL_CLIENT_SECRET', 'when MAIL_AUTH_MODE=clientSecret') : undefined;
  const clientCertificatePem =
    authMode === 'clientCertificate' ? required('MAIL_CLIENT_CERTIFICATE', 'when MAIL_AUTH_MODE=clientCertificate') : undefined;
  for (const name of ['MAIL_CLIENT_SECRET', 'MAIL_CLIENT_CERTIFICATE']) {
    // An unresolved Key Vault reference reaches the app as the literal reference text.
    if (read(name)?.startsWith('@Microsoft.KeyVault(')) {
      problems.push(`${name}: the Key Vault reference was not resolved; check the app's identity has "Key Vault Secrets User" and the secret exists`);
    }
  }

  const allowedSenders = (read('MAIL_ALLOWED_SENDERS') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (allowedSenders.length === 0) problems.push('MAIL_ALLOWED_SENDERS: required, a comma-separated list of mailboxes or @domains');
  for (const entry of allowedSenders) {
    if (!(EMAIL.test(entry) || /^@[^\s@]+\.[^\s@]+$/.test(entry))) {
      problems.push(`MAIL_ALLOWED_SENDERS: "${entry}" is neither a mailbox nor an @domain`);
    }
  }
  const defaultSender = read('MAIL_DEFAULT_SENDER')?.toLowerCase();
  if (defaultSender && !isAllowedSender(defaultSender, allowedSenders)) {
    problems.push(`MAIL_DEFAULT_SENDER: "${defaultSender}" is not in MAIL_ALLOWED_SENDERS`);
  }

  const tlsMinVersion = withDefault('MAIL_SMTP_TLS_MIN_VERSION');
  if (tlsMinVersion !== 'TLSv1.2' && tlsMinVersion !== 'TLSv1.3') {
    problems.push(`MAIL_SMTP_TLS_MIN_VERSION: must be TLSv1.2 or TLSv1.3, got "${tlsMinVersion}"`);
  }

  const names = ['MAIL_QUEUE_NAME', 'MAIL_STATUS_TABLE', 'MAIL_PAYLOAD_CONTAINER', 'MAIL_GOVERNOR_CONTAINER'] as const;
  const [queueName, statusTable, payloadContainer, governorContainer] = names.map((n) => withDefault(n));
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(queueName!)) {
    problems.push(`MAIL_QUEUE_NAME: "${queueName}" is not a valid queue name (3-63 lowercase letters, digits, single hyphens)`);
  }
  if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(statusTable!)) {
    problems.push(`MAIL_STATUS_TABLE: "${statusTable}" is not a valid table name (3-63 letters and digits)`);
  }
  for (const [name, value] of [['MAIL_PAYLOAD_CONTAINER', payloadContainer], ['MAIL_GOVERNOR_CONTAINER', governorContainer]] as const) {
    if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(value!)) problems.push(`${name}: "${value}" is not a valid container name`);
  }

  const storage: StorageConnection = {
    connectionString: read(STORAGE_CONNECTION),
    queueServiceUri: read(`${STORAGE_CONNECTION}__queueServiceUri`),
    blobServiceUri: read(`${STORAGE_CONNECTION}__blobServiceUri`),
    tableServiceUri: read(`${STORAGE_CONNECTION}__tableServiceUri`),
    clientId: read(`${STORAGE_CONNECTION}__clientId`),
  };
  if (!storage.connectionString && !(storage.queueServiceUri && storage.blobServiceUri && storage.tableServiceUri)) {
    problems.push(
      `${STORAGE_CONNECTION}: set a connection string, or ${STORAGE_CONNECTION}__queueServiceUri, __blobServiceUri and __tableServiceUri for an identity-based connection`,
    );
  }

  const publicBaseUrl = readPublicBaseUrl(read('MAIL_PUBLIC_BASE_URL'), read('WEBSITE_HOSTNAME'), problems);

  const config: MailConfig = {
    auth: {
      mode: authMode,
      tenantId,
      clientId,
      clientSecret,
      clientCertificatePem,
      managedIdentityClientId: authMode === 'federatedIdentity' ? read('MAIL_MANAGED_IDENTITY_CLIENT_ID') : undefined,
      federationAudience: withDefault('MAIL_FEDERATION_AUDIENCE'),
      authorityHost: url('MAIL_AUTHORITY_HOST'),
      scope: withDefault('MAIL_TOKEN_SCOPE'),
    },
    smtp: {
      host: withDefault('MAIL_SMTP_HOST'),
      port: int('MAIL_SMTP_PORT', 1, 65535),
      tlsMinVersion: tlsMinVersion as 'TLSv1.2' | 'TLSv1.3',
      maxConnectionsPerMailbox: int('MAIL_MAX_CONNECTIONS_PER_MAILBOX', 1, 20),
    },
    allowedSenders,
    defaultSender,
    queueName: queueName!,
    statusTable: statusTable!,
    payloadContainer: payloadContainer!,
    governorContainer: governorContainer!,
    maxMessagesPerMinute: int('MAIL_MAX_MESSAGES_PER_MINUTE', 1, 10_000),
    maxMessageBytes: int('MAIL_MAX_MESSAGE_BYTES', 1024, 150 * 1024 * 1024),
    publicBaseUrl,
    storage,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

/** An https origin (http only for loopback, as Core Tools serves), or WEBSITE_HOSTNAME, which the platform sets. */
function readPublicBaseUrl(configured: string | undefined, websiteHostname: string | undefined, problems: string[]): string | undefined {
  if (configured) {
    let url: URL;
    try {
      url = new URL(configured);
    } catch {
      problems.push(`MAIL_PUBLIC_BASE_URL: not a URL: "${configured}"`);
      return undefined;
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.host))) {
      problems.push(`MAIL_PUBLIC_BASE_URL: must be https (http only for localhost), got "${configured}"`);
    }
    if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
      problems.push(`MAIL_PUBLIC_BASE_URL: an origin only, such as https://mail.contoso.com, got "${configured}"`);
    }
    return url.origin;
  }
  if (websiteHostname && /^[A-Za-z0-9.-]+(:\d+)?$/.test(websiteHostname)) {
    return `${LOOPBACK.test(websiteHostname) ? 'http' : 'https'}://${websiteHostname.toLowerCase()}`;
  }
  return undefined;
}

/** The README's configuration table, generated from SETTINGS so the two cannot drift. */
export function settingsTableMarkdown(): string {
  const rows = SETTINGS.map((s) => `| \`${s.name}\` | ${s.required === 'always' ? 'yes' : s.required === 'optional' ? '' : `for ${s.required}`} | ${s.default ? `\`${s.default}\`` : ''} | ${s.description} |`);
  return ['| setting | required | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
