// The ARM template the real Bicep compiler makes of infra/main.bicep (.local/arm/main.json, compiled first when
// missing or older than infra/), and what Azure supplies when it deploys one, for tests that expand it with
// conditions evaluated (./arm-expression). Without a compiler, and no current compiled template, a test file is
// skipped with the reason (./machine-tools), unless TEST_REQUIRE_ALL makes it a failure.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Template } from './arm-expression';
import { findBicepCompiler, skipUnlessFound } from './machine-tools';

// Compiled to dist/test/support/, so the repo root is three levels up.
export const ROOT = join(__dirname, '..', '..', '..');

/** The parameters main.bicep requires, with values a first deployment would give. */
export const REQUIRED = { environmentName: 'mail', location: 'swedencentral', allowedSenders: 'noreply@contoso.example' };

// What Azure supplies at deployment time, as the public cloud has it (the template deploys there only).
export const SUBSCRIPTION = '00000000-0000-0000-0000-000000000001';
export const azureBuiltins: Record<string, (...args: unknown[]) => unknown> = {
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
  // Within a module's resource group (not needed to tell resources apart here): the type's segments interleaved with
  // the names, as ARM does ('Microsoft.Network/virtualNetworks/subnets', 'v', 's' -> .../virtualNetworks/v/subnets/s).
  resourceid: (type: unknown, ...names: unknown[]) => {
    const [namespace, ...types] = String(type).split('/');
    return `/providers/${namespace}${types.map((t, i) => `/${t}/${String(names[i])}`).join('')}`;
  },
};

/** The compiled main template, or why the checks named `what` are skipped (no compiler, none compiled yet). */
export async function compiledMainOrSkip(what: string): Promise<{ template: Template; skip?: undefined } | { skip: string }> {
  // A dynamic import keeps the ES module helper usable from these CommonJS tests.
  const arm = (await import(pathToFileURL(join(ROOT, 'infra', 'tools', 'compiled-arm.mjs')).href)) as {
    compiledMain(root: string): Promise<Template>;
    savedMain(root: string): { template?: Template };
  };
  if (!arm.savedMain(ROOT).template) {
    const skip = skipUnlessFound(findBicepCompiler(ROOT), what);
    if (skip) return { skip };
  }
  return { template: await arm.compiledMain(ROOT) };
}
