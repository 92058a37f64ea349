// The preprovision hook's checks before anything is created, and the Key Vault recovery it prepares: one sign-in for
// azd and the hooks, the subscription's directory being the Microsoft 365 tenant (Exchange Online there, the senders'
// domains verified there), and KEY_VAULT_RECOVER set when this environment's vault is soft-deleted. `az` and `azd` are
// stand-ins on PATH (Azure cannot run here) that answer as the real ones do; the hook runs with sh, as azd runs it.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runWithStandIns, standInFolder } from './support/stand-in-commands';

// Compiled to dist/test/, so the repo root is two levels up.
const HOOK = join(__dirname, '..', '..', 'infra', 'scripts', 'preprovision.sh');

// Each call is appended to $FAKE_LOG. The current subscription and directory are $FAKE_SUBSCRIPTION and $FAKE_TENANT;
// $FAKE_SP_ERROR makes `az ad sp show` fail with that text; $FAKE_DOMAINS are the directory's verified domains;
// $FAKE_DELETED the rows `az keyvault list-deleted` returns for the hook's query (name, location, purge date).
const FAKE_AZ = `#!/bin/sh
echo "az $*" >> "$FAKE_LOG"
case "$1 $2" in
  "account show")
    case "$*" in
      *"--query id"*) echo "$FAKE_SUBSCRIPTION" ;;
      *"--query tenantId"*) echo "$FAKE_TENANT" ;;
    esac ;;
  "ad sp") if [ -n "$FAKE_SP_ERROR" ]; then echo "ERROR: $FAKE_SP_ERROR" >&2; exit 1; fi; echo "5f2a6d1e-0000-4000-8000-00000000e0e0" ;;
  "rest --method") printf '%s\\n' $FAKE_DOMAINS ;;
  "keyvault list-deleted") printf '%b' "$FAKE_DELETED" ;;
  *) echo "fake az: unexpected call: $*" >&2; exit 2 ;;
esac
`;
const FAKE_AZD = `#!/bin/sh
echo "azd $*" >> "$FAKE_LOG"
[ "$1 $2 $3" = "config get auth.useAzCliAuth" ] && echo "$FAKE_USE_AZ_CLI_AUTH"
exit 0
`;

const SUBSCRIPTION = '0b1c2d3e-1111-4222-8333-444455556666';
const TENANT = '7a8b9c0d-aaaa-4bbb-8ccc-dddddddddddd';
/** A deployment that passes every check: azd signed in through az, az in the deployment's subscription, a Microsoft 365 directory. */
const GOOD: Record<string, string> = {
  FAKE_USE_AZ_CLI_AUTH: '"true"',
  FAKE_SUBSCRIPTION: SUBSCRIPTION,
  FAKE_TENANT: TENANT,
  FAKE_SP_ERROR: '',
  FAKE_DOMAINS: 'contoso.com contoso.onmicrosoft.com',
  FAKE_DELETED: '',
  AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
  AZURE_ENV_NAME: 'mail-prod',
  AZURE_LOCATION: 'swedencentral',
  MAIL_ALLOWED_SENDERS: 'noreply@contoso.com,@Contoso.com',
};

let dir: string;
beforeEach(() => {
  dir = standInFolder('preprovision-', { az: FAKE_AZ, azd: FAKE_AZD });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const runHook = (env: Record<string, string>) => runWithStandIns(dir, HOOK, { ...GOOD, ...env });

const recoverSet = (calls: string[]) => calls.filter((call) => call.startsWith('azd env set KEY_VAULT_RECOVER'));

test('a deployment that passes every check goes on, and without a deleted vault KEY_VAULT_RECOVER is false', async () => {
  const { code, stdout, stderr, calls } = await runHook({});
  assert.equal(code, 0, stderr);
  assert.match(stdout, new RegExp(`directory ${TENANT} has Exchange Online`));
  assert.deepEqual(recoverSet(calls), ['azd env set KEY_VAULT_RECOVER false -e mail-prod']);
});

test('azd not deploying with the Azure CLI sign-in stops it, naming the real reason (one account for azd and the hooks)', async () => {
  const { code, stderr, calls } = await runHook({ FAKE_USE_AZ_CLI_AUTH: '' });
  assert.equal(code, 1);
  assert.match(stderr, /azd config set auth\.useAzCliAuth true/);
  assert.match(stderr, /Key Vault role .* goes to the account azd deploys as/s);
  assert.doesNotMatch(
    stderr,
    /refused to any other interactive sign-in/,
    "Graph Bicep accepts azd's own sign-in (the Azure CLI's client id)",
  );
  assert.deepEqual(
    calls.filter((call) => call.startsWith('az ')),
    [],
    'nothing asked of Azure',
  );
});

test('the Azure CLI working in another subscription stops it with the command that switches', async () => {
  const { code, stderr, calls } = await runHook({ FAKE_SUBSCRIPTION: '99999999-9999-4999-8999-999999999999' });
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`az account set --subscription ${SUBSCRIPTION}`));
  assert.deepEqual(recoverSet(calls), []);
});

test('a directory without Exchange Online stops it: the subscription must be in the Microsoft 365 tenant', async () => {
  const { code, stderr, calls } = await runHook({
    FAKE_SP_ERROR:
      "Resource '00000002-0000-0ff1-ce00-000000000000' does not exist or one of its queried reference-property objects are not present.",
  });
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`directory ${TENANT} \\(of subscription ${SUBSCRIPTION}\\) has no Exchange Online`));
  assert.match(stderr, /must be the Microsoft 365 tenant/);
  assert.deepEqual(recoverSet(calls), [], 'nothing prepared');
});

test('a directory that cannot be read is reported as such, not as a directory without Exchange Online', async () => {
  const { code, stderr } = await runHook({ FAKE_SP_ERROR: 'Insufficient privileges to complete the operation.' });
  assert.equal(code, 1);
  assert.match(stderr, /could not read the service principals of directory .*Insufficient privileges/);
  assert.doesNotMatch(stderr, /has no Exchange Online/);
});

test('a sender whose domain is not verified in the directory stops it, naming the sender; sender profiles skip the check', async () => {
  const refused = await runHook({ MAIL_ALLOWED_SENDERS: 'noreply@contoso.com, alerts@fabrikam.com' });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /MAIL_ALLOWED_SENDERS: alerts@fabrikam\.com: not a verified domain of directory/);
  assert.doesNotMatch(refused.stderr, /noreply@contoso\.com/);

  const profiles = await runHook({
    MAIL_ALLOWED_SENDERS: 'noreply@contoso.com,alerts@fabrikam.com',
    MAIL_SENDER_PROFILES: '[{"name":"fabrikam","senders":["alerts@fabrikam.com"]}]',
  });
  assert.equal(profiles.code, 0, profiles.stderr);
  assert.match(profiles.stdout, /sender profiles set: the sender domains are not checked/);
  assert.ok(!profiles.calls.some((call) => call.startsWith('az rest')));
});

test("this environment's soft-deleted Key Vault in the same location sets KEY_VAULT_RECOVER; one of another location does not", async () => {
  const recovered = await runHook({ FAKE_DELETED: 'kv-mail-abc123\\tswedencentral\\t2027-03-07T19:00:00+00:00\\n' });
  assert.equal(recovered.code, 0, recovered.stderr);
  assert.deepEqual(recoverSet(recovered.calls), ['azd env set KEY_VAULT_RECOVER true -e mail-prod']);
  assert.match(recovered.stdout, /Key Vault kv-mail-abc123 of environment mail-prod is soft-deleted .*until 2027-03-07/);
  const query = recovered.calls.find((call) => call.startsWith('az keyvault list-deleted'))!;
  assert.match(query, new RegExp(`--subscription ${SUBSCRIPTION}`));
  assert.match(query, /starts_with\(name, 'kv-mail-'\) && properties\.tags\."azd-env-name" == 'mail-prod'/);

  const elsewhere = await runHook({ FAKE_DELETED: 'kv-mail-def456\\twesteurope\\t2027-03-07T19:00:00+00:00\\n' });
  assert.equal(elsewhere.code, 0, elsewhere.stderr);
  assert.deepEqual(recoverSet(elsewhere.calls), ['azd env set KEY_VAULT_RECOVER false -e mail-prod']);
});

test('an environment name that is not one stops it before it reaches a query', async () => {
  const { code, stderr, calls } = await runHook({ AZURE_ENV_NAME: "x' || true || '" });
  assert.equal(code, 1);
  assert.match(stderr, /is not an azd environment name/);
  assert.ok(!calls.some((call) => call.startsWith('az keyvault')));
});
