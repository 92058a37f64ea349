// Reads and checks the app settings (app-settings.ts) into the options each module takes. Every problem is
// reported at once, each naming its setting, and a secret is never echoed.
import { AUTH_MODES } from '../identity/auth-mode';
import { PLACEHOLDER } from '../identity/entra-ids';
import type { TokenSourceOptions } from '../identity/token-source';
import type { SmtpOptions } from '../smtp/smtp-sender';
import type { ReportsConfig } from '../bounces/report-reader';
import type { StorageConnection } from '../storage/clients';
import type { CallbackConfig } from '../callbacks/callback-attempt';
import { isAllowedSender } from '../mail/senders';
import { SETTINGS, STORAGE_CONNECTION, settingsSchema, type SettingName, type Settings } from './app-settings';
import type { Caller } from '../callers/caller-policy';
import { DEFAULT_PROFILE, profileFor, type SenderProfile } from '../profiles/sender-profiles';
import { readSenderProfiles } from '../profiles/read-profiles';
import type { EntraTokenOptions } from '../callers/entra-token';
import { fieldPath } from '../validation/field-errors';
import { hookCallerName, secretProblems, type HookConfig } from '../hooks/hook-policy';

export interface MailConfig {
  auth: TokenSourceOptions;
  smtp: SmtpOptions;
  allowedSenders: string[];
  defaultSender?: string;
  queueName: string;
  statusTable: string;
  payloadContainer: string;
  governorContainer: string;
  maxMessagesPerMinute: number;
  maxRecipientsPerDay: number;
  maxMessageBytes: number;
  /** Origin the status URLs in Location headers start with; relative URLs when unknown. */
  publicBaseUrl?: string;
  storage: StorageConnection;
  /** The caller policy; undefined when the Functions host checks function keys instead. */
  callers?: Caller[];
  /** How callers' Entra tokens are checked, when a caller is recognised by one. */
  api?: EntraTokenOptions;
  hooks: HookConfig;
  /** Sender profiles besides the default one (MAIL_SENDER_PROFILES). */
  senderProfiles: SenderProfile[];
  callbacks: CallbackConfig;
  /** MAIL_LOG_ADDRESSES: logs and telemetry name mail addresses in full; otherwise only their domains. */
  logAddresses: boolean;
  /** Delivery reports read over IMAP; undefined when MAIL_REPORTS_MAILBOXES is not set. */
  reports?: ReportsConfig;
}

/** Where and how delivery reports are read: the mailboxes, and the reader's options (one set for all). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): MailConfig {
  const input: Record<string, string | undefined> = {};
  for (const { name } of SETTINGS) input[name] = env[name]?.trim() || undefined;
  const placeholders = takePlaceholders(input);
  const problems = [...unresolvedReferences(input), ...missingSettings(input)];
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]);
      problems.push(`${fieldPath(issue.path)}: ${input[name] === undefined && issue.code === 'invalid_type' ? 'required' : issue.message}`);
    }
    throw new ConfigError(withPlaceholders(problems, placeholders));
  }
  const settings = parsed.data;
  const sender = settings.MAIL_DEFAULT_SENDER;
  if (sender && !isAllowedSender(sender, settings.MAIL_ALLOWED_SENDERS))
    problems.push(`MAIL_DEFAULT_SENDER: "${sender}" is not in MAIL_ALLOWED_SENDERS`);
  const publicBaseUrl = readPublicBaseUrl(settings.MAIL_PUBLIC_BASE_URL, settings.WEBSITE_HOSTNAME, problems);
  const api = readApi(settings, problems);
  const hooks = readHooks(settings, problems);
  const callbacks = readCallbacks(settings, problems);
  const reports = readReports(settings, problems);
  const config = toConfig(settings, publicBaseUrl);
  const senderProfiles = readSenderProfiles(
    settings.MAIL_SENDER_PROFILES ?? [],
    env,
    defaultProfile(config),
    settings.MAIL_ALLOWED_SENDERS,
    problems,
  );
  if (problems.length > 0 || placeholders.length > 0) throw new ConfigError(withPlaceholders(problems, placeholders));
  return { ...config, api, hooks, senderProfiles, callbacks, ...(reports ? { reports } : {}) };
}

/** Newest messages of the reports folder looked at per run, and the bound of one mailbox's visit. */
const REPORTS_SCANNED = 5000;
const REPORTS_VISIT_MS = 120_000;

/** Report mailboxes are allowed senders (a mailbox we send from), read with the same TLS floor as SMTP. */
function readReports(settings: Settings, problems: string[]): ReportsConfig | undefined {
  const mailboxes = settings.MAIL_REPORTS_MAILBOXES ?? [];
  for (const mailbox of mailboxes) {
    if (!isAllowedSender(mailbox, settings.MAIL_ALLOWED_SENDERS))
      problems.push(`MAIL_REPORTS_MAILBOXES: ${mailbox} is not in MAIL_ALLOWED_SENDERS`);
  }
  const same = (a: string, b: string) => (/^inbox$/i.test(a) && /^inbox$/i.test(b)) || a === b;
  if (same(settings.MAIL_REPORTS_FOLDER, settings.MAIL_REPORTS_SOURCE_FOLDER))
    problems.push('MAIL_REPORTS_FOLDER: must differ from MAIL_REPORTS_SOURCE_FOLDER (reports are moved out of it)');
  if (mailboxes.length === 0) return undefined;
  return {
    mailboxes,
    reader: {
      host: settings.MAIL_REPORTS_IMAP_HOST,
      port: settings.MAIL_REPORTS_IMAP_PORT,
      tlsMinVersion: settings.MAIL_SMTP_TLS_MIN_VERSION,
      sourceFolder: settings.MAIL_REPORTS_SOURCE_FOLDER,
      reportsFolder: settings.MAIL_REPORTS_FOLDER,
      maxReports: settings.MAIL_REPORTS_MAX_PER_RUN,
      maxReportBytes: settings.MAIL_REPORTS_MAX_BYTES,
      maxScanned: REPORTS_SCANNED,
      timeoutMs: REPORTS_VISIT_MS,
    },
  };
}

/**
 * Settings still holding an example's placeholder (`<client secret: …>`, as local.settings.example.json has them):
 * taken out of the input, so each is reported once, as a placeholder, and never echoed (it may be a secret's setting).
 */
function takePlaceholders(input: Record<string, string | undefined>): SettingName[] {
  const found = SETTINGS.filter((s) => PLACEHOLDER.test(input[s.name] ?? '')).map((s) => s.name);
  for (const name of found) input[name] = undefined;
  return found;
}

/** The placeholders first; no second problem for the same setting (such as "required"). */
function withPlaceholders(problems: string[], placeholders: SettingName[]): string[] {
  const about = (problem: string, name: string) =>
    problem.startsWith(`${name}:`) || problem.startsWith(`${name}.`) || problem.startsWith(`${name}[`);
  return [
    ...placeholders.map((name) => `${name}: still the example's placeholder (local.settings.example.json): put in the real value`),
    ...problems.filter((problem) => !placeholders.some((name) => about(problem, name))),
  ];
}

/** Callback hosts need a valid signing secret; the secret is never echoed. */
function readCallbacks(settings: Settings, problems: string[]): CallbackConfig {
  const hosts = settings.MAIL_CALLBACK_HOSTS ?? [];
  // One secret, or the current and the next one, space-separated, while rotating.
  const secrets = settings.MAIL_CALLBACK_SECRET?.split(' ').filter(Boolean) ?? [];
  if (hosts.length > 0 && secrets.length === 0)
    problems.push('MAIL_CALLBACK_SECRET: required when MAIL_CALLBACK_HOSTS is set (callbacks are signed)');
  if (secrets.length > 2) problems.push('MAIL_CALLBACK_SECRET: one secret, or two (current and next) while rotating');
  for (const problem of secretProblems('standard-webhooks', secrets)) problems.push(`MAIL_CALLBACK_SECRET: ${problem}`);
  if (settings.MAIL_CALLBACK_QUEUE_NAME === settings.MAIL_QUEUE_NAME)
    problems.push('MAIL_CALLBACK_QUEUE_NAME: must differ from MAIL_QUEUE_NAME');
  return {
    hosts,
    secrets,
    queueName: settings.MAIL_CALLBACK_QUEUE_NAME,
    maxAttempts: settings.MAIL_CALLBACK_MAX_ATTEMPTS,
    privateHosts: settings.MAIL_CALLBACK_PRIVATE_HOSTS ?? [],
  };
}

/** The profile of the MAIL_* settings: every sender no other profile names. */
export function defaultProfile(config: Pick<MailConfig, 'auth' | 'smtp' | 'maxMessagesPerMinute' | 'maxRecipientsPerDay'>): SenderProfile {
  return {
    name: DEFAULT_PROFILE,
    senders: [],
    auth: config.auth,
    smtp: config.smtp,
    maxMessagesPerMinute: config.maxMessagesPerMinute,
    maxRecipientsPerDay: config.maxRecipientsPerDay,
  };
}

/** The profile a sender uses. */
export function senderProfileOf(
  config: Pick<MailConfig, 'auth' | 'smtp' | 'maxMessagesPerMinute' | 'maxRecipientsPerDay' | 'senderProfiles'>,
  sender: string,
): SenderProfile {
  return profileFor(sender, config.senderProfiles, defaultProfile(config));
}

/** Whether the app checks hook requests itself (a signed hook exists), so the host must let them through. */
export function appVerifiesHookSignatures(env: Env = process.env): boolean {
  return Boolean(env.MAIL_HOOKS?.trim());
}

/** Signed hooks: within MAIL_ALLOWED_SENDERS like callers, named apart from them, each with valid secrets. */
function readHooks(settings: Settings, problems: string[]): HookConfig {
  const signed = settings.MAIL_HOOKS ?? [];
  const given = settings.MAIL_HOOK_SECRETS ?? {};
  const secrets = new Map<string, readonly string[]>();
  const callerNames = new Set((settings.MAIL_CALLERS ?? []).map((c) => c.name.toLowerCase()));
  signed.forEach((hook, index) => {
    checkSenders(`MAIL_HOOKS[${index}]`, hook, settings.MAIL_ALLOWED_SENDERS, problems);
    if (callerNames.has(hookCallerName(hook.template).toLowerCase())) {
      problems.push(`MAIL_HOOKS[${index}]: a MAIL_CALLERS entry is named ${hookCallerName(hook.template)}, the name this hook sends as`);
    }
    const value = given[hook.template];
    const list = value === undefined ? [] : typeof value === 'string' ? [value] : value;
    if (list.length === 0) problems.push(`MAIL_HOOK_SECRETS: no secret for the signed hook ${hook.template}`);
    for (const problem of secretProblems(hook.signature, list)) problems.push(`MAIL_HOOK_SECRETS.${hook.template}: ${problem}`);
    // The template is in the URL, outside what is signed: only a secret of its own binds a signature to its hook.
    for (const secret of list) {
      const other = [...secrets].find(([, theirs]) => theirs.includes(secret))?.[0];
      if (other) problems.push(`MAIL_HOOK_SECRETS.${hook.template}: the same secret as ${other}; each signed hook needs its own`);
      if (settings.MAIL_CALLBACK_SECRET?.split(' ').includes(secret))
        problems.push(`MAIL_HOOK_SECRETS.${hook.template}: the same secret as MAIL_CALLBACK_SECRET; the hook would take our own callbacks`);
    }
    secrets.set(hook.template, list);
  });
  // A secret for no hook is most likely a misspelt template name.
  for (const name of Object.keys(given)) {
    if (!signed.some((h) => h.template === name))
      problems.push(`MAIL_HOOK_SECRETS: "${name.slice(0, 64)}" is not a template in MAIL_HOOKS`);
  }

  return {
    templateContainer: settings.MAIL_TEMPLATE_CONTAINER,
    cacheSeconds: settings.MAIL_TEMPLATE_CACHE_SECONDS,
    maxPayloadBytes: settings.MAIL_HOOK_MAX_BYTES,
    signed,
    secrets,
  };
}

/** Whether the app authenticates callers itself (MAIL_CALLERS set) rather than the host checking function keys. */
export function appAuthenticatesCallers(env: Env = process.env): boolean {
  return Boolean(env.MAIL_CALLERS?.trim());
}

/** A hook's or caller's senders stay within MAIL_ALLOWED_SENDERS, and its default sender is one of them. */
function checkSenders(
  label: string,
  entry: { senders: readonly string[]; defaultSender?: string },
  allowed: readonly string[],
  problems: string[],
): void {
  for (const sender of entry.senders) {
    const covered = sender.startsWith('@') ? allowed.includes(sender) : isAllowedSender(sender, allowed);
    if (!covered) problems.push(`${label}.senders: ${sender} is not within MAIL_ALLOWED_SENDERS`);
  }
  if (entry.defaultSender && !isAllowedSender(entry.defaultSender, entry.senders)) {
    problems.push(`${label}.defaultSender: ${entry.defaultSender} is not one of its senders`);
  }
}

/** Callers stay within MAIL_ALLOWED_SENDERS; Entra callers need a tenant and an audience to check tokens against. */
function readApi(settings: Settings, problems: string[]): EntraTokenOptions | undefined {
  const callers = settings.MAIL_CALLERS ?? [];
  callers.forEach((caller, index) => {
    checkSenders(`MAIL_CALLERS[${index}]`, caller, settings.MAIL_ALLOWED_SENDERS, problems);
  });
  if (!callers.some((c) => c.entraAppId || c.entraRole)) return undefined;
  const tenantId = settings.MAIL_API_TENANT_ID ?? settings.MAIL_TENANT_ID;
  if (!tenantId) problems.push('MAIL_API_TENANT_ID: required when a caller is recognised by an Entra token (or set MAIL_TENANT_ID)');
  const audiences = settings.MAIL_API_AUDIENCE ?? [];
  if (audiences.length === 0) problems.push('MAIL_API_AUDIENCE: required when a caller is recognised by an Entra token');
  return { authorityHost: settings.MAIL_AUTHORITY_HOST, tenantId: tenantId ?? '', audiences };
}

/** An unresolved Key Vault reference reaches the app as the literal reference text. */
function unresolvedReferences(input: Record<string, string | undefined>): string[] {
  return SETTINGS.filter((s) => s.secret && input[s.name]?.startsWith('@Microsoft.KeyVault(')).map(
    (s) =>
      `${s.name}: the Key Vault reference was not resolved; check the app's identity has "Key Vault Secrets User" and the secret exists`,
  );
}

/** Settings the chosen auth mode needs, and a storage connection of one kind or the other. */
function missingSettings(input: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  const mode = AUTH_MODES.find((m) => m === input.MAIL_AUTH_MODE);
  for (const { name, requirement } of SETTINGS) {
    if (typeof requirement === 'string' || 'oneOf' in requirement || !mode) continue;
    if (requirement.includes(mode) && input[name] === undefined) problems.push(`${name}: required when MAIL_AUTH_MODE=${mode}`);
  }
  const endpoints = ['queueServiceUri', 'blobServiceUri', 'tableServiceUri'].map((service) => input[`${STORAGE_CONNECTION}__${service}`]);
  if (!input[STORAGE_CONNECTION] && !endpoints.every(Boolean)) {
    problems.push(
      `${STORAGE_CONNECTION}: set a connection string, or ${STORAGE_CONNECTION}__queueServiceUri, __blobServiceUri and __tableServiceUri for an identity-based connection`,
    );
  }
  return problems;
}

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

/** An https origin (http only for loopback, as Core Tools serves), or WEBSITE_HOSTNAME, which the platform sets. */
function readPublicBaseUrl(configured: string | undefined, websiteHostname: string | undefined, problems: string[]): string | undefined {
  const name: SettingName = 'MAIL_PUBLIC_BASE_URL';
  if (configured) {
    let url: URL;
    try {
      url = new URL(configured);
    } catch {
      problems.push(`${name}: not a URL: "${configured}"`);
      return undefined;
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.host))) {
      problems.push(`${name}: must be https (http only for localhost), got "${configured}"`);
    }
    if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
      problems.push(`${name}: an origin only, such as https://mail.contoso.com, got "${configured}"`);
    }
    return url.origin;
  }
  if (websiteHostname && /^[A-Za-z0-9.-]+(:\d+)?$/.test(websiteHostname)) {
    return `${LOOPBACK.test(websiteHostname) ? 'http' : 'https'}://${websiteHostname.toLowerCase()}`;
  }
  return undefined;
}

function toConfig(s: Settings, publicBaseUrl: string | undefined): Omit<MailConfig, 'hooks' | 'senderProfiles' | 'callbacks'> {
  const mode = s.MAIL_AUTH_MODE;
  return {
    auth: {
      mode,
      tenantId: s.MAIL_TENANT_ID,
      clientId: s.MAIL_CLIENT_ID,
      clientSecret: mode === 'clientSecret' ? s.MAIL_CLIENT_SECRET : undefined,
      clientCertificatePem: mode === 'clientCertificate' ? s.MAIL_CLIENT_CERTIFICATE : undefined,
      managedIdentityClientId: mode === 'federatedIdentity' ? s.MAIL_MANAGED_IDENTITY_CLIENT_ID : undefined,
      federationAudience: s.MAIL_FEDERATION_AUDIENCE,
      authorityHost: s.MAIL_AUTHORITY_HOST,
      scope: s.MAIL_TOKEN_SCOPE,
    },
    smtp: {
      host: s.MAIL_SMTP_HOST,
      port: s.MAIL_SMTP_PORT,
      tlsMinVersion: s.MAIL_SMTP_TLS_MIN_VERSION,
      tlsServername: s.MAIL_SMTP_TLS_SERVERNAME,
      maxConnectionsPerMailbox: s.MAIL_MAX_CONNECTIONS_PER_MAILBOX,
    },
    allowedSenders: s.MAIL_ALLOWED_SENDERS,
    defaultSender: s.MAIL_DEFAULT_SENDER,
    queueName: s.MAIL_QUEUE_NAME,
    statusTable: s.MAIL_STATUS_TABLE,
    payloadContainer: s.MAIL_PAYLOAD_CONTAINER,
    governorContainer: s.MAIL_GOVERNOR_CONTAINER,
    maxMessagesPerMinute: s.MAIL_MAX_MESSAGES_PER_MINUTE,
    maxRecipientsPerDay: s.MAIL_MAX_RECIPIENTS_PER_DAY,
    maxMessageBytes: s.MAIL_MAX_MESSAGE_BYTES,
    publicBaseUrl,
    logAddresses: s.MAIL_LOG_ADDRESSES,
    storage: {
      connectionString: s[STORAGE_CONNECTION],
      queueServiceUri: s[`${STORAGE_CONNECTION}__queueServiceUri`],
      blobServiceUri: s[`${STORAGE_CONNECTION}__blobServiceUri`],
      tableServiceUri: s[`${STORAGE_CONNECTION}__tableServiceUri`],
      clientId: s[`${STORAGE_CONNECTION}__clientId`],
    },
    callers: s.MAIL_CALLERS,
  };
}
