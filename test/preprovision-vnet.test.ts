// The preprovision hook with private networking: the app's subnet is delegated to Microsoft.App/environments, a
// provider Resource Manager does not register for this template, so the hook registers it when VNET_ENABLED is true
// and stops with the command to run when it cannot. `az` and `azd` are stand-ins on PATH (Azure cannot run here);
// the hook runs with sh, as azd runs it.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runWithStandIns, standInFolder } from './support/stand-in-commands';

// Compiled to dist/test/, so the repo root is two levels up.
const HOOK = join(__dirname, '..', '..', 'infra', 'scripts', 'preprovision.sh');

// Each call is appended to $FAKE_LOG; `provider show` answers $FAKE_PROVIDER_STATE, `provider register` fails when
// $FAKE_REGISTER_FAILS is set.
// The checks before it (subscription, directory, senders, deleted vault) are answered as a passing deployment's;
// test/preprovision.test.ts covers them.
const FAKE_AZ = `#!/bin/sh
echo "az $*" >> "$FAKE_LOG"
case "$1 $2" in
  "account show")
    case "$*" in
      *"--query id"*) echo "$AZURE_SUBSCRIPTION_ID" ;;
      *"--query tenantId"*) echo "7a8b9c0d-aaaa-4bbb-8ccc-dddddddddddd" ;;
    esac ;;
  "ad sp") echo "5f2a6d1e-0000-4000-8000-00000000e0e0" ;;
  "keyvault list-deleted") ;;
  "provider show") echo "$FAKE_PROVIDER_STATE" ;;
  "provider register") [ -z "$FAKE_REGISTER_FAILS" ] || { echo "AuthorizationFailed" >&2; exit 1; } ;;
  *) echo "fake az: unexpected call: $*" >&2; exit 2 ;;
esac
`;
const FAKE_AZD = `#!/bin/sh
echo "azd $*" >> "$FAKE_LOG"
[ "$1 $2 $3" = "config get auth.useAzCliAuth" ] && echo true
exit 0
`;

let dir: string;
beforeEach(() => {
  dir = standInFolder('preprovision-vnet-', { az: FAKE_AZ, azd: FAKE_AZD });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const runHook = (env: Record<string, string>) =>
  runWithStandIns(dir, HOOK, {
    AZURE_SUBSCRIPTION_ID: '0b1c2d3e-1111-4222-8333-444455556666',
    AZURE_ENV_NAME: 'mail-prod',
    AZURE_LOCATION: 'swedencentral',
    ...env,
  });

const providerCalls = (calls: string[]) => calls.filter((call) => call.startsWith('az provider'));

test('without VNET_ENABLED the hook leaves resource providers alone', async () => {
  const { code, stderr, calls } = await runHook({ FAKE_PROVIDER_STATE: 'NotRegistered' });
  assert.equal(code, 0, stderr);
  assert.deepEqual(providerCalls(calls), []);
});

test('with VNET_ENABLED=true an unregistered Microsoft.App is registered before provisioning', async () => {
  const { code, stderr, calls } = await runHook({ VNET_ENABLED: 'True', FAKE_PROVIDER_STATE: 'NotRegistered' });
  assert.equal(code, 0, stderr);
  assert.deepEqual(providerCalls(calls), [
    'az provider show --namespace Microsoft.App --query registrationState -o tsv --only-show-errors',
    'az provider register --namespace Microsoft.App --wait --only-show-errors',
  ]);
});

test('with VNET_ENABLED=true and Microsoft.App registered nothing is registered', async () => {
  const { code, stderr, calls } = await runHook({ VNET_ENABLED: 'true', FAKE_PROVIDER_STATE: 'Registered' });
  assert.equal(code, 0, stderr);
  assert.equal(providerCalls(calls).filter((call) => call.startsWith('az provider register')).length, 0);
});

test('a registration that fails stops provisioning with the command to run', async () => {
  const { code, stderr } = await runHook({ VNET_ENABLED: 'true', FAKE_PROVIDER_STATE: 'NotRegistered', FAKE_REGISTER_FAILS: '1' });
  assert.equal(code, 1);
  assert.match(stderr, /az provider register --namespace Microsoft\.App/);
});
