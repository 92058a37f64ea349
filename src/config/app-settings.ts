// Every app setting the code reads, once: its name, type, default, meaning and whether it is a secret.
// Loading (load-config.ts), the configuration table in docs/configuration.md and the infra consistency test all come from here.
import { z } from 'zod';
import { AUTH_MODES, type AuthMode } from '../identity/auth-mode';
import { callerListSchema } from '../callers/caller-policy';
import { senderProfileListSchema } from '../profiles/sender-profiles';
import { hookSecretsSchema, signedHookListSchema } from '../hooks/hook-policy';
import { CALLBACK_HOST_ENTRY } from '../mail/callback-url';
import { clientIdSchema, tenantIdSchema } from '../identity/entra-ids';

/** The connection name used by the queue trigger binding and by our own storage clients. */
export const STORAGE_CONNECTION = 'MailStorage';

/** Who needs a setting: everyone, the listed auth modes, or nobody (it has a default or is optional). */
export type Requirement = 'always' | 'optional' | readonly AuthMode[] | { oneOf: readonly string[] };

interface SettingDoc {
  description: string;
  requirement?: Requirement;
  /** Never logged or echoed; an unresolved Key Vault reference in it is reported without its text. */
  secret?: boolean;
  /** Set by the platform (Azure, Core Tools), not by us. */
  platform?: boolean;
}

const docs = new Map<z.ZodType, SettingDoc>();
const doc = <T extends z.ZodType>(schema: T, info: SettingDoc): T => (docs.set(schema, info), schema);

const text = () => z.string();
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (issue) => `must be one of ${values.join(', ')}, got "${typeof issue.input === 'string' ? issue.input : ''}"` });
const wholeNumber = (min: number, max: number) =>
  z.string().transform((raw, ctx) => {
    const value = Number(raw);
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got "${raw}"` });
    return z.NEVER;
  });
const flag = () =>
  z.string().transform((raw, ctx) => {
    if (/^(true|false)$/i.test(raw)) return raw.toLowerCase() === 'true';
    ctx.addIssue({ code: 'custom', message: `expected true or false, got "${raw.slice(0, 100)}"` });
    return z.NEVER;
  });
const httpsUrl = () =>
  z.string().transform((raw, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: `not a URL: "${raw}"` });
      return z.NEVER;
    }
    if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `must be an https URL, got "${raw}"` });
    return raw.replace(/\/+$/, '');
  });
const storageName = (pattern: RegExp, what: string) =>
  z.string().refine((value) => pattern.test(value), { error: (issue) => `"${String(issue.input)}" is not a valid ${what}` });
const QUEUE_OR_CONTAINER = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;
const queueName = () => storageName(QUEUE_OR_CONTAINER, 'queue name (3-63 lowercase letters, digits, single hyphens)');
const containerName = () => storageName(QUEUE_OR_CONTAINER, 'container name');

const MAILBOX = /^[^\s@<>(),;:"[\]\\]+@[^\s@<>(),;:"[\]\\]+\.[^\s@<>(),;:"[\]\\]+$/;
const senderList = () =>
  z.string().transform((raw, ctx) => {
    const entries = raw
      .split(',')
      .map((entry) => entry.trim().toLowerCase())
      .filter(Boolean);
    if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'required, a comma-separated list of mailboxes or @domains' });
    for (const entry of entries) {
      if (!(MAILBOX.test(entry) || /^@[^\s@]+\.[^\s@]+$/.test(entry))) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is neither a mailbox nor an @domain` });
      }
    }
    return entries;
  });

/** Mailboxes only (no @domains): each is a mailbox to sign in to. */
const mailboxList = () =>
  z.string().transform((raw, ctx) => {
    const entries = [
      ...new Set(
        raw
          .split(',')
          .map((entry) => entry.trim().toLowerCase())
          .filter(Boolean),
      ),
    ];
    for (const entry of entries) {
      if (!MAILBOX.test(entry)) ctx.addIssue({ code: 'custom', message: `"${entry.slice(0, 100)}" is not a mailbox` });
    }
    return entries;
  });
/** An IMAP folder path: printable, no wildcards (IMAP's * and %), at most 200 characters. */
const folderName = () =>
  z.string().refine((value) => value.length <= 200 && /^[^\p{Cc}*%"\\]+$/u.test(value), {
    error: (issue) =>
      `"${String(issue.input).slice(0, 100)}" is not a folder name (no control characters, *, %, " or \\; at most 200 characters)`,
  });

const json = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
const commaList = () =>
  z.string().transform((raw) =>
    raw
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean),
  );

/** Host names, "*.domain" wildcards where `wildcards`; never an IP address. */
const hostList = (wildcards: boolean) =>
  z.string().transform((raw, ctx) => {
    const entries = raw
      .split(',')
      .map((entry) => entry.trim().toLowerCase().replace(/\.$/, ''))
      .filter(Boolean);
    for (const entry of entries) {
      const ip = /^[\d.]+$|:/.test(entry);
      if (ip || !CALLBACK_HOST_ENTRY.test(entry) || (!wildcards && entry.startsWith('*.'))) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry.slice(0, 100)}" is not a host name${wildcards ? ' or *.domain' : ''}${ip ? ' (IP addresses are not allowed)' : ''}`,
        });
      }
    }
    return entries;
  });

const appModes = AUTH_MODES.filter((mode) => mode !== 'managedIdentity');

export const settingsSchema = z.object({
  MAIL_AUTH_MODE: doc(oneOf(AUTH_MODES), {
    requirement: 'always',
    description:
      '`managedIdentity`, `clientSecret`, `clientCertificate` or `federatedIdentity`: how the access token is obtained (see Authentication modes).',
  }),
  MAIL_TENANT_ID: doc(tenantIdSchema().optional(), {
    requirement: appModes,
    description: 'Entra tenant id (GUID) or verified domain (`contoso.onmicrosoft.com`) of the app registration.',
  }),
  MAIL_CLIENT_ID: doc(clientIdSchema().optional(), {
    requirement: appModes,
    description:
      'App registration client id; in `managedIdentity` mode the client id of a user-assigned identity (empty: system-assigned).',
  }),
  MAIL_CLIENT_SECRET: doc(text().optional(), {
    requirement: ['clientSecret'],
    secret: true,
    description: 'Client secret. In Azure a Key Vault reference, never the value.',
  }),
  MAIL_CLIENT_CERTIFICATE: doc(text().optional(), {
    requirement: ['clientCertificate'],
    secret: true,
    description: 'PEM with the certificate and its private key. In Azure a Key Vault reference.',
  }),
  MAIL_MANAGED_IDENTITY_CLIENT_ID: doc(clientIdSchema().optional(), {
    description: '`federatedIdentity`: client id of the user-assigned identity the app registration trusts (empty: system-assigned).',
  }),
  MAIL_FEDERATION_AUDIENCE: doc(text().default('api://AzureADTokenExchange'), {
    description:
      '`federatedIdentity`: audience of the managed identity token presented to Entra (US Gov: `api://AzureADTokenExchangeUSGov`, China: `api://AzureADTokenExchangeChina`).',
  }),
  MAIL_AUTHORITY_HOST: doc(httpsUrl().default('https://login.microsoftonline.com'), {
    description: 'Entra authority host (sovereign clouds: e.g. `https://login.microsoftonline.us`).',
  }),
  MAIL_TOKEN_SCOPE: doc(text().default('https://outlook.office365.com/.default'), {
    description: 'Token scope; managed identity uses it without `/.default`.',
  }),
  MAIL_SMTP_HOST: doc(text().default('smtp.office365.com'), { description: 'SMTP submission host.' }),
  MAIL_SMTP_PORT: doc(wholeNumber(1, 65535).default(587), {
    description: 'SMTP port; the connection starts plain and upgrades with STARTTLS, which is required.',
  }),
  MAIL_SMTP_TLS_SERVERNAME: doc(text().optional(), {
    description:
      "Name the SMTP server's certificate is checked against (and sent as SNI) when `MAIL_SMTP_HOST` is an IP address or an alias. Default: `MAIL_SMTP_HOST`.",
  }),
  MAIL_SMTP_TLS_MIN_VERSION: doc(oneOf(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'), { description: '`TLSv1.2` or `TLSv1.3`.' }),
  MAIL_REPORTS_MAILBOXES: doc(mailboxList().optional(), {
    description:
      'Sending mailboxes whose delivery reports (bounces, delays) are read over IMAP, comma-separated; each must be an allowed sender. The app needs `IMAP.AccessAsApp` and access to each mailbox (see Delivery reports). Unset: no reports are read.',
  }),
  MAIL_REPORTS_IMAP_HOST: doc(text().default('outlook.office365.com'), { description: 'IMAP host the delivery reports are read from.' }),
  MAIL_REPORTS_IMAP_PORT: doc(wholeNumber(1, 65535).default(993), { description: 'IMAP port; the connection is TLS from the start.' }),
  MAIL_REPORTS_SOURCE_FOLDER: doc(folderName().default('INBOX'), { description: 'Folder the delivery reports arrive in.' }),
  MAIL_REPORTS_FOLDER: doc(folderName().default('Delivery reports'), {
    description: 'Folder a recorded delivery report is moved to, so it is read once; made when missing. Other mail is never moved.',
  }),
  MAIL_REPORTS_MAX_PER_RUN: doc(wholeNumber(1, 1000).default(100), {
    description: 'Delivery reports read per mailbox and run, the newest first; the rest wait for the next run.',
  }),
  MAIL_REPORTS_MAX_BYTES: doc(wholeNumber(16 * 1024, 10 * 1024 * 1024).default(256 * 1024), {
    description: 'Bytes fetched of one delivery report; the status part comes before any copy of the original message.',
  }),
  MAIL_ALLOWED_SENDERS: doc(senderList(), {
    requirement: 'always',
    description: 'Comma-separated mailboxes that may appear in `from`; `@contoso.com` allows a whole domain.',
  }),
  MAIL_DEFAULT_SENDER: doc(text().toLowerCase().optional(), { description: 'Sender used when a request has no `from`; must be allowed.' }),
  MAIL_QUEUE_NAME: doc(queueName().default('mail-outbox'), {
    description: 'Outbox queue (the trigger reads `%MAIL_QUEUE_NAME%`; poison messages go to `<name>-poison`).',
  }),
  MAIL_STATUS_TABLE: doc(storageName(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'table name (3-63 letters and digits)').default('mailstatus'), {
    description: 'Table holding one status record per message.',
  }),
  MAIL_PAYLOAD_CONTAINER: doc(containerName().default('mail-payloads'), {
    description: 'Blob container for messages too large for a queue message.',
  }),
  MAIL_GOVERNOR_CONTAINER: doc(containerName().default('mail-governor'), {
    description: 'Blob container for per-mailbox connection leases and rate counters.',
  }),
  MAIL_MAX_CONNECTIONS_PER_MAILBOX: doc(wholeNumber(1, 20).default(3), {
    description: 'Concurrent SMTP connections per sending mailbox across all instances (Exchange allows 3).',
  }),
  MAIL_MAX_MESSAGES_PER_MINUTE: doc(wholeNumber(1, 10_000).default(30), {
    description: 'Messages per minute per sending mailbox across all instances (Exchange allows 30).',
  }),
  MAIL_MAX_RECIPIENTS_PER_DAY: doc(wholeNumber(1, 1_000_000).default(10_000), {
    description:
      'Recipients per sending mailbox in any 24 hours across all instances (Exchange allows 10,000); messages beyond it are held until the day has room.',
  }),
  MAIL_MAX_MESSAGE_BYTES: doc(wholeNumber(1024, 150 * 1024 * 1024).default(35 * 1024 * 1024), {
    description: 'Largest accepted message (subject, custom headers, bodies and decoded attachments). Exchange default is 35 MB.',
  }),
  MAIL_PUBLIC_BASE_URL: doc(text().optional(), {
    description:
      "Origin of the status URLs in `Location` headers, e.g. `https://mail.contoso.com` behind a gateway. Default: `https://` + `WEBSITE_HOSTNAME` (set by Azure); never the request's `Host` header.",
  }),
  MAIL_SENDER_PROFILES: doc(json(senderProfileListSchema).optional(), {
    description:
      'Sender profiles for other tenants, credentials or SMTP endpoints (JSON list, see Sender profiles): each names its mailboxes or @domains; every other sender uses the MAIL_* settings (profile `default`).',
  }),
  MAIL_CALLERS: doc(json(callerListSchema).optional(), {
    description:
      'Who may call the HTTP API and as whom each may send (JSON list, see Callers). Unset: the Functions host checks function keys and every key holder may use every allowed sender.',
  }),
  MAIL_API_TENANT_ID: doc(tenantIdSchema().optional(), {
    description: 'Tenant whose Entra access tokens callers present (`entraAppId`/`entraRole` callers). Default: `MAIL_TENANT_ID`.',
  }),
  MAIL_API_AUDIENCE: doc(commaList().optional(), {
    description: "Accepted `aud` of callers' Entra access tokens: the API's application ID URI and/or client id, comma-separated.",
  }),
  MAIL_TEMPLATE_CONTAINER: doc(containerName().optional(), {
    description:
      'Blob container of mail templates (`<name>/template.json`, `html.liquid`, `text.liquid`) that operators change without a redeploy; a template there wins over the shipped one of the same name. Unset: shipped templates only.',
  }),
  MAIL_TEMPLATE_CACHE_SECONDS: doc(wholeNumber(0, 3600).default(60), {
    description: 'How long a loaded template (or its absence) is reused before it is read again.',
  }),
  MAIL_HOOK_MAX_BYTES: doc(wholeNumber(1024, 16 * 1024 * 1024).default(1024 * 1024), {
    description:
      'Largest webhook payload `POST /api/hooks/{template}` reads (Event Grid batches are at most 1 MB, Azure Monitor alerts 256 KB).',
  }),
  MAIL_HOOKS: doc(json(signedHookListSchema).optional(), {
    description:
      'Hooks verified by a signature instead of a caller credential (JSON list, see Integrations): template, `standard-webhooks` or `github`, and the sender policy the hook sends under.',
  }),
  MAIL_HOOK_SECRETS: doc(json(hookSecretsSchema).optional(), {
    secret: true,
    description:
      'Signing secrets of the signed hooks, `{ "<template>": "whsec_…" }` (a list while rotating). In Azure a Key Vault reference.',
  }),
  MAIL_CALLBACK_HOSTS: doc(hostList(true).optional(), {
    description:
      "Hosts a request's `callbackUrl` may name, comma-separated: `hooks.contoso.com`, or `*.contoso.com` for any host below it. Unset: requests with a `callbackUrl` are refused.",
  }),
  MAIL_CALLBACK_SECRET: doc(text().optional(), {
    secret: true,
    description:
      "Master secret of the callbacks (Standard Webhooks form, `whsec_` + base64 of at least 16 random bytes): each caller's signing secret is derived from it (see Callbacks); two, space-separated, while rotating. Required with `MAIL_CALLBACK_HOSTS`. In Azure a Key Vault reference.",
  }),
  MAIL_CALLBACK_QUEUE_NAME: doc(queueName().default('mail-callbacks'), {
    description: 'Queue of callbacks to deliver (the trigger reads `%MAIL_CALLBACK_QUEUE_NAME%`; poison messages go to `<name>-poison`).',
  }),
  MAIL_CALLBACK_MAX_ATTEMPTS: doc(wholeNumber(1, 30).default(10), {
    description:
      'Attempts to deliver a callback (exponential backoff from 30 s, at most 1 h apart: 10 attempts span about 3 hours) before it is given up and recorded as failed.',
  }),
  MAIL_CALLBACK_PRIVATE_HOSTS: doc(hostList(false).optional(), {
    description:
      'Development only (the local sandbox sets `localhost`): callback hosts that may resolve to private or loopback addresses. Never set it in Azure.',
  }),
  MAIL_LOG_ADDRESSES: doc(flag().default(false), {
    description:
      'Whether logs and telemetry name mail addresses in full. `false`: `***@domain` in their place (see Privacy); `true` for a deployment whose operators may see who mails whom.',
  }),
  WEBSITE_HOSTNAME: doc(text().optional(), {
    platform: true,
    description: "The app's host name, set by Azure and by Core Tools; the default origin of status URLs.",
  }),
  [STORAGE_CONNECTION]: doc(text().optional(), {
    requirement: { oneOf: [STORAGE_CONNECTION, `${STORAGE_CONNECTION}__queueServiceUri`] },
    description:
      'Storage connection string (local), or identity-based: `__queueServiceUri`, `__blobServiceUri`, `__tableServiceUri`, `__credential=managedidentity`, `__clientId`.',
  }),
  [`${STORAGE_CONNECTION}__queueServiceUri`]: doc(text().optional(), { description: 'Identity-based queue endpoint.' }),
  [`${STORAGE_CONNECTION}__blobServiceUri`]: doc(text().optional(), { description: 'Identity-based blob endpoint.' }),
  [`${STORAGE_CONNECTION}__tableServiceUri`]: doc(text().optional(), { description: 'Identity-based table endpoint.' }),
  [`${STORAGE_CONNECTION}__credential`]: doc(text().optional(), {
    description: '`managedidentity` (read by the Functions host for the trigger).',
  }),
  [`${STORAGE_CONNECTION}__clientId`]: doc(text().optional(), { description: 'Client id of the user-assigned identity used for storage.' }),
});

export type SettingName = keyof typeof settingsSchema.shape;
export type Settings = z.infer<typeof settingsSchema>;

export interface SettingSpec {
  name: SettingName;
  requirement: Requirement;
  description: string;
  /** As written in app settings. */
  default?: string;
  secret: boolean;
  platform: boolean;
}

/** The schema as a list, for documentation and for comparing with what infra/ sets. */
export const SETTINGS: readonly SettingSpec[] = (Object.entries(settingsSchema.shape) as [SettingName, z.ZodType][]).map(
  ([name, schema]) => {
    const info = docs.get(schema)!;
    const defaultValue = schema instanceof z.ZodDefault ? schema.def.defaultValue : undefined;
    return {
      name,
      requirement: info.requirement ?? 'optional',
      description: info.description,
      ...(defaultValue !== undefined ? { default: `${defaultValue as string | number}` } : {}),
      secret: info.secret === true,
      platform: info.platform === true,
    };
  },
);

export function describeRequirement(requirement: Requirement): string {
  if (requirement === 'always') return 'yes';
  if (requirement === 'optional') return '';
  if ('oneOf' in requirement) return `\`${requirement.oneOf.join('` or `')}\``;
  return `for ${requirement.join(', ')}`;
}

/** The configuration table in docs/configuration.md (npm run docs). */
export function settingsTableMarkdown(): string {
  const rows = SETTINGS.filter((s) => !s.platform).map(
    (s) =>
      `| \`${s.name}\` | ${describeRequirement(s.requirement)} | ${s.default ? `\`${s.default}\`` : ''} | ${s.secret ? '**Secret.** ' : ''}${s.description} |`,
  );
  return ['| setting | required | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
