// The settings as the app reads them (loadConfig), and the Key Vault references among them.
import { ConfigError, defaultProfile, loadConfig, type MailConfig } from '../config/load-config';
import type { SenderProfile } from '../profiles/sender-profiles';
import { fail, pass, type CheckResult } from './report';

const UNRESOLVED = 'the Key Vault reference was not resolved';

export function checkSettings(env: Record<string, string | undefined>): { config?: MailConfig; checks: CheckResult[] } {
  let config: MailConfig;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const references = error.problems.filter((p) => p.includes(UNRESOLVED));
    const others = error.problems.filter((p) => !p.includes(UNRESOLVED));
    return {
      checks: [
        others.length > 0
          ? fail(
              'settings',
              `Settings: ${others.length} problem${others.length > 1 ? 's' : ''}`,
              "Set these in local.settings.json (Values) or the environment here, in the Function App's app settings in Azure (docs/configuration.md).",
              { details: others },
            )
          : pass('settings', 'Settings: complete apart from Key Vault references'),
        references.length > 0 ? keyVaultFailure(references) : pass('keyvault', 'Key Vault references: none left unresolved'),
      ],
    };
  }
  const storage = config.storage.connectionString ? 'connection string' : 'identity-based';
  return {
    config,
    checks: [
      pass('settings', `Settings: auth ${config.auth.mode}, SMTP ${config.smtp.host}:${config.smtp.port}, storage by ${storage}`, {
        details: [
          `allowed senders: ${config.allowedSenders.join(', ')}${config.defaultSender ? ` (default ${config.defaultSender})` : ''}`,
          ...[defaultProfile(config), ...config.senderProfiles].map(describeProfile),
        ],
      }),
      pass('keyvault', 'Key Vault references: none left unresolved'),
    ],
  };
}

function keyVaultFailure(problems: string[]): CheckResult {
  return fail(
    'keyvault',
    `Key Vault references: ${problems.length} not resolved`,
    'In Azure: give the app\'s identity "Key Vault Secrets User" on the vault (keyVaultReferenceIdentity must be that identity), check the secret exists under the reference\'s name, then restart the app. ' +
      'Outside Azure nothing resolves a reference: put the value itself in local.settings.json, which git ignores.',
    { details: problems },
  );
}

/** One line per sender profile: whose tokens it gets and where it sends, never its credential. */
function describeProfile({ name, auth, smtp, senders }: SenderProfile): string {
  const tenant = auth.tenantId ? `tenant ${auth.tenantId}` : 'no tenant set';
  return `profile ${name}: ${auth.mode}, ${tenant}, SMTP ${smtp.host}:${smtp.port}, ${senders.length > 0 ? `senders ${senders.join(', ')}` : 'every sender no other profile names'}`;
}
