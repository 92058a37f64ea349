// The doctor: every check of a setup, in the order a person fixes them. A plain module: what it talks to is
// passed in, so the same checks run from a terminal (main.ts), against the local stack in tests, or in the app.
import type { TokenSource, TokenSourceOptions } from '../identity/token-source';
import type { StorageClients, StorageConnection } from '../storage/clients';
import { defaultProfile } from '../config/load-config';
import { checkSettings } from './check-settings';
import { checkToken } from './check-token';
import { checkSmtp, type ProfileToken } from './check-smtp';
import { checkStorage } from './check-storage';
import { settingNames } from './profile-settings';
import { redact } from './redact';
import { report, skip, type DoctorReport } from './report';
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
  // Storage does not depend on the tokens, nor one profile's token on another's: all go at once.
  const storage = checkStorage(config, deps.createStorageClients(config.storage), storageTimeoutMs);
  const profiles = [defaultProfile(config), ...config.senderProfiles];
  const tokens = await Promise.all(
    profiles.map(async (profile) => {
      const names = settingNames(profile.name, deps.env);
      const checked = await checkToken(profile, deps.createTokenSource(profile.auth), names, deps.tokenTimeoutMs ?? 30_000);
      return { profile: profile.name, checked, names };
    }),
  );
  const byProfile = new Map<string, ProfileToken>(
    tokens.map((t) => [t.profile, { token: t.checked.token, tenant: t.checked.tenant, names: t.names }]),
  );
  const smtp = await checkSmtp(config, byProfile, deps.probeSmtp, smtpTimeoutMs);
  return redact(report([...checks, ...tokens.map((t) => t.checked.check), ...smtp, ...(await storage)]), deps.env);
}
