// MAIL_SENDER_PROFILES into ready profiles: each credential read from the app setting it names, defaults taken from
// the default profile, and every problem named by its place in the list.
import { isAllowedSender } from '../mail/senders';
import type { SenderProfile, SenderProfileSetting } from './sender-profiles';

type Env = Record<string, string | undefined>;

const UNRESOLVED_REFERENCE = '@Microsoft.KeyVault(';

export function readSenderProfiles(
  listed: readonly SenderProfileSetting[],
  env: Env,
  defaults: SenderProfile,
  allowedSenders: readonly string[],
  problems: string[],
): SenderProfile[] {
  const claimed = new Map<string, string>();
  return listed.map((p, index) => {
    const at = `MAIL_SENDER_PROFILES[${index}]`;
    for (const sender of p.senders) {
      const covered = sender.startsWith('@') ? allowedSenders.includes(sender) : isAllowedSender(sender, allowedSenders);
      if (!covered) problems.push(`${at}.senders: ${sender} is not within MAIL_ALLOWED_SENDERS`);
      const other = claimed.get(sender);
      if (other) problems.push(`${at}.senders: ${sender} is already in profile ${other}`);
      claimed.set(sender, p.name);
    }
    const needsApp = p.authMode !== 'managedIdentity';
    if (needsApp && !p.tenantId) problems.push(`${at}.tenantId: required when authMode is ${p.authMode}`);
    if (needsApp && !p.clientId) problems.push(`${at}.clientId: required when authMode is ${p.authMode}`);
    const credential = (field: 'clientSecretSetting' | 'clientCertificateSetting', mode: SenderProfileSetting['authMode']) => {
      if (p.authMode !== mode) return undefined;
      const name = p[field];
      if (!name) return void problems.push(`${at}.${field}: required when authMode is ${mode}`);
      const value = env[name]?.trim();
      if (!value) return void problems.push(`${at}.${field}: the app setting ${name} is not set`);
      // Named without its text: it is a secret, resolved or not.
      if (value.startsWith(UNRESOLVED_REFERENCE))
        return void problems.push(
          `${name}: the Key Vault reference was not resolved; check the app's identity has "Key Vault Secrets User" and the secret exists`,
        );
      return value;
    };
    return {
      name: p.name,
      senders: p.senders,
      auth: {
        mode: p.authMode,
        tenantId: p.tenantId,
        clientId: p.clientId,
        clientSecret: credential('clientSecretSetting', 'clientSecret'),
        clientCertificatePem: credential('clientCertificateSetting', 'clientCertificate'),
        managedIdentityClientId: p.authMode === 'federatedIdentity' ? p.managedIdentityClientId : undefined,
        federationAudience: p.federationAudience ?? defaults.auth.federationAudience,
        authorityHost: p.authorityHost ?? defaults.auth.authorityHost,
        scope: p.scope ?? defaults.auth.scope,
      },
      smtp: {
        ...defaults.smtp,
        host: p.smtpHost ?? defaults.smtp.host,
        port: p.smtpPort ?? defaults.smtp.port,
        maxConnectionsPerMailbox: p.maxConnectionsPerMailbox ?? defaults.smtp.maxConnectionsPerMailbox,
      },
      maxMessagesPerMinute: p.maxMessagesPerMinute ?? defaults.maxMessagesPerMinute,
      maxRecipientsPerDay: p.maxRecipientsPerDay ?? defaults.maxRecipientsPerDay,
    };
  });
}
