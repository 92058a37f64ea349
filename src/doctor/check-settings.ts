// The settings as the app reads them (loadConfig), and the Key Vault references among them.
import { ConfigError, loadConfig, type MailConfig } from '../config';
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
              'Set these in local.settings.json (Values) or the environment here, in the Function App\'s app settings in Azure (README "Configuration").',
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
