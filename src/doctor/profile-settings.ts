// What MAIL_SENDER_PROFILES says about each profile's own app settings, read leniently from the raw setting: the
// profiles' credentials live in settings whose names only the profile list knows, and the doctor must name them in
// its advice and keep their values out of its output even when the configuration does not load.
import { DEFAULT_PROFILE } from '../profiles/sender-profiles';

export interface ListedProfile {
  name: string;
  clientSecretSetting?: string;
  clientCertificateSetting?: string;
}

export function listedProfiles(env: Record<string, string | undefined>): ListedProfile[] {
  let raw: unknown;
  try {
    raw = JSON.parse(env.MAIL_SENDER_PROFILES ?? '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(raw)) return [];
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return raw
    .filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null)
    .map((p) => ({
      name: text(p.name) ?? '',
      clientSecretSetting: text(p.clientSecretSetting),
      clientCertificateSetting: text(p.clientCertificateSetting),
    }));
}

/** The app settings that hold a profile's credential. */
export function profileCredentialSettings(env: Record<string, string | undefined>): string[] {
  return listedProfiles(env).flatMap((p) => [p.clientSecretSetting, p.clientCertificateSetting].filter((s): s is string => Boolean(s)));
}

/** Where a profile's settings are, for advice that names them: the MAIL_* settings, or a field of its profile entry. */
export interface ProfileSettingNames {
  profile: string;
  tenant: string;
  client: string;
  secret: string;
  certificate: string;
  managedIdentityClient: string;
  authority: string;
  scope: string;
  smtpHost: string;
  smtpPort: string;
}

export const DEFAULT_SETTING_NAMES: ProfileSettingNames = {
  profile: DEFAULT_PROFILE,
  tenant: 'MAIL_TENANT_ID',
  client: 'MAIL_CLIENT_ID',
  secret: 'MAIL_CLIENT_SECRET',
  certificate: 'MAIL_CLIENT_CERTIFICATE',
  managedIdentityClient: 'MAIL_MANAGED_IDENTITY_CLIENT_ID',
  authority: 'MAIL_AUTHORITY_HOST',
  scope: 'MAIL_TOKEN_SCOPE',
  smtpHost: 'MAIL_SMTP_HOST',
  smtpPort: 'MAIL_SMTP_PORT',
};

export function settingNames(profile: string, env: Record<string, string | undefined>): ProfileSettingNames {
  const listed = listedProfiles(env).find((p) => p.name === profile);
  if (!listed) return DEFAULT_SETTING_NAMES;
  const field = (name: string) => `the ${name} of profile ${profile} (MAIL_SENDER_PROFILES)`;
  return {
    profile,
    tenant: field('tenantId'),
    client: field('clientId'),
    secret: listed.clientSecretSetting ?? field('clientSecretSetting'),
    certificate: listed.clientCertificateSetting ?? field('clientCertificateSetting'),
    managedIdentityClient: field('managedIdentityClientId'),
    authority: field('authorityHost'),
    scope: field('scope'),
    smtpHost: field('smtpHost'),
    smtpPort: field('smtpPort'),
  };
}
