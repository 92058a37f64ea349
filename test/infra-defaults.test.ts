// First-deployment defaults of infra/main.bicep, on the ARM template the real Bicep compiler makes of it
// (.local/arm/main.json, compiled first when missing or older than infra/), expanded with conditions evaluated
// (test/support/arm-expression.ts): the recommended auth mode without any parameter, and the Key Vault recovered
// instead of created when the preprovision hook found this environment's vault soft-deleted (keyVaultRecover).
import { before, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expand, type Deployed, type Template } from './support/arm-expression';
import { azureBuiltins as builtins, compiledMainOrSkip, REQUIRED, ROOT } from './support/compiled-main';
import { skippable } from './support/machine-tools';

let main: Template;
/** Why this file's tests are skipped (no compiler, and none needed for a current compiled template), once known. */
let noCompiler: string | undefined;
const test = skippable(nodeTest, () => noCompiler);

before(async () => {
  const compiled = await compiledMainOrSkip('first-deployment defaults (the compiled ARM template of infra/)');
  if (compiled.skip !== undefined) noCompiler = compiled.skip;
  else main = compiled.template;
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
