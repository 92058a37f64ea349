// Belt and braces: no check quotes a secret or a token on purpose, and none may by accident either. The secrets are
// the values of the secret app settings and of every setting a sender profile keeps its credential in.
import { SETTINGS } from '../config/app-settings';
import { profileCredentialSettings } from './profile-settings';
import type { CheckResult, DoctorReport } from './report';

const JWT = /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g;
const KEY_VAULT_REFERENCE = '@Microsoft.KeyVault(';

export function redact(found: DoctorReport, env: Record<string, string | undefined>): DoctorReport {
  const names = [...SETTINGS.filter((s) => s.secret).map((s) => s.name), ...profileCredentialSettings(env)];
  const values = names
    .map((name) => env[name]?.trim())
    .filter((value): value is string => Boolean(value && !value.startsWith(KEY_VAULT_REFERENCE)));
  // A PEM is quoted line by line if at all: each long line of it counts as a secret too. Longest first, so a whole
  // value is replaced before its parts.
  const lines = values
    .flatMap((v) => v.split(/\r?\n/).map((line) => line.trim()))
    .filter((line) => line.length >= 16 && !line.startsWith('-----'));
  const secrets = [...new Set([...values.filter((v) => v.length >= 6), ...lines])].sort((a, b) => b.length - a.length);
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
