// First-deployment defaults of infra/main.bicep, on the ARM template the real Bicep compiler makes of it
// (.local/arm/main.json, compiled first when missing or older than infra/), expanded with conditions evaluated
// (test/support/arm-expression.ts): the recommended auth mode without any parameter, and the Key Vault recovered
// instead of created when the preprovision hook found this environment's vault soft-deleted (keyVaultRecover).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expand, type Deployed, type Template } from './support/arm-expression';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');

// What Azure supplies at deployment time, as the public cloud has it (the template deploys there only).
const SUBSCRIPTION = '00000000-0000-0000-0000-000000000001';
const builtins: Record<string, (...args: unknown[]) => unknown> = {
  environment: () => ({
    name: 'AzureCloud',
    suffixes: { storage: 'core.windows.net', keyvaultDns: '.vault.azure.net' },
    authentication: { loginEndpoint: 'https://login.microsoftonline.com/' },
  }),
  subscription: () => ({ subscriptionId: SUBSCRIPTION, id: `/subscriptions/${SUBSCRIPTION}` }),
  tenant: () => ({ tenantId: '00000000-0000-0000-0000-00000000000t' }),
  uniquestring: (...parts: unknown[]) => `u${parts.map(String).join('').length}`,
  subscriptionresourceid: (type: unknown, ...names: unknown[]) =>
    type === 'Microsoft.Resources/resourceGroups'
      ? `/subscriptions/${SUBSCRIPTION}/resourceGroups/${names.map(String).join('/')}`
      : `/subscriptions/${SUBSCRIPTION}/providers/${String(type)}/${names.map(String).join('/')}`,
  resourceid: (type: unknown, ...names: unknown[]) => {
    const [namespace, ...types] = String(type).split('/');
    return `/providers/${namespace}${types.map((t, i) => `/${t}/${String(names[i])}`).join('')}`;
  },
};

const REQUIRED = { environmentName: 'mail', location: 'swedencentral', allowedSenders: 'noreply@contoso.example' };

let main: Template;
before(async () => {
  // A dynamic import keeps the ES module helper usable from this CommonJS test.
  const arm = (await import(pathToFileURL(join(ROOT, 'infra', 'tools', 'compiled-arm.mjs')).href)) as {
    compiledMain(root: string): Promise<Template>;
  };
  main = await arm.compiledMain(ROOT);
});

const vaultOf = (resources: Deployed[]) => {
  const vaults = resources.filter((r) => r.type.toLowerCase() === 'microsoft.keyvault/vaults');
  assert.equal(vaults.length, 1, 'one Key Vault');
  return vaults[0];
};

test("without authMode the deployment is federatedIdentity, the recommended mode, in main.bicep and in azd's parameters", () => {
  const { outputs } = expand(main, REQUIRED, builtins);
  assert.equal(outputs.EXO_AUTH_MODE, 'federatedIdentity');
  const parameters = JSON.parse(readFileSync(join(ROOT, 'infra', 'main.parameters.json'), 'utf8')) as {
    parameters: Record<string, { value: string }>;
  };
  assert.equal(parameters.parameters.authMode.value, '${MAIL_AUTH_MODE=federatedIdentity}');
});

test('the Key Vault is created by default and recovered with keyVaultRecover, which azd sets from KEY_VAULT_RECOVER', () => {
  const created = vaultOf(expand(main, REQUIRED, builtins).resources);
  assert.equal(created.value('properties.createMode'), 'default');
  assert.equal(created.value('properties.enablePurgeProtection'), true, 'purge protection is why a deleted vault stays 90 days');
  const recovered = vaultOf(expand(main, { ...REQUIRED, keyVaultRecover: true }, builtins).resources);
  assert.equal(recovered.value('properties.createMode'), 'recover');
  assert.equal(recovered.name, created.name, 'the same fixed name: the soft-deleted vault is this one');
  const parameters = JSON.parse(readFileSync(join(ROOT, 'infra', 'main.parameters.json'), 'utf8')) as {
    parameters: Record<string, { value: string }>;
  };
  assert.equal(parameters.parameters.keyVaultRecover.value, '${KEY_VAULT_RECOVER=false}');
});
