// The doctor: every check of a setup, in the order a person fixes them. A plain module: what it talks to is
// passed in, so the same checks run from a terminal (main.ts), against the local stack in tests, or in the app.
import type { TokenSource, TokenSourceOptions } from '../identity/token-source';
import type { StorageClients, StorageConnection } from '../storage/clients';
import { SETTINGS } from '../settings';
import { checkSettings } from './check-settings';
import { checkToken } from './check-token';
import { checkSmtp } from './check-smtp';
import { checkStorage } from './check-storage';
import { report, skip, type CheckResult, type DoctorReport } from './report';
import type { SmtpProbe } from './smtp-probe';

export interface DoctorDeps {
  /** The app settings, as the app would read them. */
  env: Record<string, string | undefined>;
  createTokenSource(auth: TokenSourceOptions): TokenSource;
  createStorageClients(connection: StorageConnection): StorageClients;
  probeSmtp: SmtpProbe;
  /** How long the token request, one SMTP session or one storage call may take (defaults: 30, 20 and 15 s). */
  tokenTimeoutMs?: number;
  smtpTimeoutMs?: number;
  storageTimeoutMs?: number;
}

export async function runChecks(deps: DoctorDeps): Promise<DoctorReport> {
  const { config, checks } = checkSettings(deps.env);
  if (!config) {
    const later = ['token', 'smtp', 'storage'].map((id) =>
      skip(id, `${id === 'smtp' ? 'SMTP' : id[0].toUpperCase() + id.slice(1)}: not checked, the settings are incomplete`),
    );
    return redact(report([...checks, ...later]), deps.env);
  }
  const smtpTimeoutMs = deps.smtpTimeoutMs ?? 20_000;
  const storageTimeoutMs = deps.storageTimeoutMs ?? 15_000;
  // Storage does not depend on the token: both go at once.
  const storage = checkStorage(config, deps.createStorageClients(config.storage), storageTimeoutMs);
  const tokenChecked = await checkToken(config, deps.createTokenSource(config.auth), deps.tokenTimeoutMs ?? 30_000);
  const smtp = await checkSmtp(config, tokenChecked.token, deps.probeSmtp, smtpTimeoutMs);
  return redact(report([...checks, tokenChecked.check, ...smtp, ...(await storage)]), deps.env);
}

// Belt and braces: no check quotes a secret or a token on purpose, and none may by accident either.
const JWT = /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g;

function redact(found: DoctorReport, env: Record<string, string | undefined>): DoctorReport {
  const secrets = SETTINGS.filter((s) => s.secret)
    .map((s) => env[s.name]?.trim())
    .filter((value): value is string => Boolean(value && value.length >= 6 && !value.startsWith('@Microsoft.KeyVault(')));
  const clean = (text: string) => secrets.reduce((t, secret) => t.split(secret).join('[secret]'), text).replace(JWT, '[token]');
  return { ok: found.ok, checks: found.checks.map((check) => mapStrings(check, clean) as CheckResult) };
}

function mapStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, map)]));
  return value;
}
