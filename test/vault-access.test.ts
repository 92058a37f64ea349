// The credential scripts (infra/scripts/new-*.sh) with private networking: the vault's public endpoint is off, so they
// open it to the deployer's address for as long as they run and close it again however they end. Azure cannot run
// here, so `az` is a stand-in on PATH that keeps a vault's network state in a file and answers as Key Vault does: a
// data-plane call is refused while public access is off, and refused naming the caller's address while the address
// is not allowed. The scripts themselves run as azd runs them, with bash.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const SCRIPTS = join(ROOT, 'infra', 'scripts');
const ADDRESS = '203.0.113.7';

interface Vault {
  access: 'Enabled' | 'Disabled';
  defaultAction: 'Allow' | 'Deny';
  ipRules: string[];
  secrets: Record<string, string>;
}
interface Call {
  args: string[];
  /** The vault's state when the call came. */
  vault: Vault;
}

// The stand-in: one vault, its state in $FAKE_AZ_STATE, every call appended to $FAKE_AZ_LOG.
const FAKE_AZ = `#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
const file = process.env.FAKE_AZ_STATE;
const vault = JSON.parse(fs.readFileSync(file, 'utf8'));
fs.appendFileSync(process.env.FAKE_AZ_LOG, JSON.stringify({ args, vault }) + '\\n');
const save = () => fs.writeFileSync(file, JSON.stringify(vault));
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const verb = args.slice(0, 3).filter((a) => !a.startsWith('-')).join(' ');
const dataPlane = () => {
  if (vault.access === 'Disabled') {
    process.stderr.write('ERROR: (Forbidden) Public network access is disabled and request is not from a trusted service nor via an approved private link.\\n');
    process.exit(1);
  }
  if (vault.defaultAction === 'Deny' && !vault.ipRules.includes('${ADDRESS}/32')) {
    process.stderr.write('ERROR: (Forbidden) Client address is not authorized and caller is not a trusted service.\\nClient address: ${ADDRESS}\\nCaller: appid=00000000;oid=00000000\\nVault: kv-mail;location=swedencentral\\n');
    process.exit(1);
  }
};
switch (verb) {
  case 'account show':
  case 'functionapp restart':
    break;
  case 'keyvault show':
    process.stdout.write(vault.access + '\\n');
    break;
  case 'keyvault update':
    vault.access = option('--public-network-access') ?? vault.access;
    vault.defaultAction = option('--default-action') ?? vault.defaultAction;
    save();
    break;
  case 'keyvault network-rule add':
    vault.ipRules.push(option('--ip-address'));
    save();
    break;
  case 'keyvault network-rule remove':
    vault.ipRules = vault.ipRules.filter((rule) => rule !== option('--ip-address'));
    save();
    break;
  case 'keyvault secret list': {
    dataPlane();
    const name = /name=='([^']+)'/.exec(option('--query') ?? '');
    if (name) process.stdout.write((vault.secrets[name[1]] === undefined ? 0 : 1) + '\\n');
    break;
  }
  case 'keyvault secret set': {
    const value = fs.readFileSync(0, 'utf8');
    if (process.env.FAKE_AZ_SET_DELAY_MS) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.FAKE_AZ_SET_DELAY_MS));
    dataPlane();
    if (process.env.FAKE_AZ_FAIL_SET) { process.stderr.write('ERROR: (InternalServerError) try again\\n'); process.exit(1); }
    vault.secrets[option('--name')] = value;
    save();
    process.stdout.write('https://kv-mail.vault.azure.net/secrets/' + option('--name') + '/1\\n');
    break;
  }
  default:
    process.stderr.write('fake az: unexpected call: ' + args.join(' ') + '\\n');
    process.exit(2);
}
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vault-access-'));
  writeFileSync(join(dir, 'az'), FAKE_AZ);
  chmodSync(join(dir, 'az'), 0o755);
  writeFileSync(join(dir, 'log'), '');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const setVault = (vault: Partial<Vault>) =>
  writeFileSync(
    join(dir, 'state'),
    JSON.stringify({ access: 'Disabled', defaultAction: 'Deny', ipRules: [], secrets: {}, ...vault } satisfies Vault),
  );
const vaultNow = () => JSON.parse(readFileSync(join(dir, 'state'), 'utf8')) as Vault;
const calls = () =>
  readFileSync(join(dir, 'log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Call);
const isCall = (call: Call, ...words: string[]) => words.every((word, i) => call.args[i] === word);

/** Runs new-callback-secret.sh as the postprovision hook does (bash), bounded in time. */
const runCallbackScript = (env: Record<string, string> = {}, signalWhen?: (log: Call[]) => boolean) =>
  runScript(['new-callback-secret.sh', '--vault', 'kv-mail', '--name', 'mail-callback-secret'], env, signalWhen);

function runScript(args: string[], env: Record<string, string> = {}, signalWhen?: (log: Call[]) => boolean) {
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('bash', [join(SCRIPTS, args[0]), ...args.slice(1)], {
      env: {
        PATH: `${dir}:${process.env.PATH ?? ''}`,
        HOME: dir,
        FAKE_AZ_STATE: join(dir, 'state'),
        FAKE_AZ_LOG: join(dir, 'log'),
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} did not end within 60 s:\n${stderr}`));
    }, 60_000);
    const watch = signalWhen
      ? setInterval(() => {
          if (signalWhen(calls())) {
            clearInterval(watch);
            child.kill('SIGTERM');
          }
        }, 50)
      : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(limit);
      clearInterval(watch);
      resolve({ code, stderr });
    });
  });
}

test('a private vault is opened to the address it names for the write, and closed again', async () => {
  setVault({ access: 'Disabled' });
  const { code, stderr } = await runCallbackScript();
  assert.equal(code, 0, stderr);
  const after = vaultNow();
  assert.match(after.secrets['mail-callback-secret'] ?? '', /^whsec_[A-Za-z0-9+/]{43}=$/);
  // Written while exactly this machine's address was allowed, and with the public endpoint otherwise closed.
  const write = calls().find((call) => isCall(call, 'keyvault', 'secret', 'set'));
  assert.ok(write, 'the secret was written');
  assert.deepEqual(write.vault.ipRules, [`${ADDRESS}/32`]);
  assert.equal(write.vault.defaultAction, 'Deny');
  assert.deepEqual({ access: after.access, ipRules: after.ipRules }, { access: 'Disabled', ipRules: [] });
  assert.match(stderr, /takes private traffic only again/);
});

test('a public vault is left as it is', async () => {
  setVault({ access: 'Enabled', defaultAction: 'Allow' });
  const { code, stderr } = await runCallbackScript();
  assert.equal(code, 0, stderr);
  assert.ok(vaultNow().secrets['mail-callback-secret']);
  const changes = calls().filter((call) => isCall(call, 'keyvault', 'update') || isCall(call, 'keyvault', 'network-rule'));
  assert.deepEqual(
    changes.map((call) => call.args.join(' ')),
    [],
  );
});

test('the vault is closed again when the write fails', async () => {
  setVault({ access: 'Disabled' });
  const { code } = await runCallbackScript({ FAKE_AZ_FAIL_SET: '1' });
  assert.notEqual(code, 0);
  const after = vaultNow();
  assert.equal(after.secrets['mail-callback-secret'], undefined);
  assert.deepEqual({ access: after.access, ipRules: after.ipRules }, { access: 'Disabled', ipRules: [] });
});

test('the vault is closed again when the script is stopped with SIGTERM', async () => {
  setVault({ access: 'Disabled' });
  // The signal comes while the write runs (it takes 2 s), that is once the vault has been opened.
  const { code } = await runCallbackScript({ FAKE_AZ_SET_DELAY_MS: '2000' }, (log) =>
    log.some((call) => isCall(call, 'keyvault', 'secret', 'set')),
  );
  assert.equal(code, 143);
  assert.ok(
    calls().some((call) => isCall(call, 'keyvault', 'network-rule', 'add')),
    'the vault had been opened when the signal came',
  );
  const after = vaultNow();
  assert.deepEqual({ access: after.access, ipRules: after.ipRules }, { access: 'Disabled', ipRules: [] });
});

test('DEPLOYER_IP_ADDRESS names the address when the vault does not', async () => {
  setVault({ access: 'Disabled' });
  const { code, stderr } = await runCallbackScript({ DEPLOYER_IP_ADDRESS: ADDRESS });
  assert.equal(code, 0, stderr);
  const added = calls().filter((call) => isCall(call, 'keyvault', 'network-rule', 'add'));
  assert.deepEqual(
    added.map((call) => call.args[call.args.indexOf('--ip-address') + 1]),
    [`${ADDRESS}/32`],
  );
  assert.deepEqual(vaultNow().ipRules, []);
});

test('with-vault-access.sh runs a command while the private vault is open, then closes it', async () => {
  setVault({ access: 'Disabled', secrets: { 'mail-callback-secret': 'whsec_x' } });
  // A data-plane read: it succeeds only while this machine's address is allowed.
  const read = ['az', 'keyvault', 'secret', 'list', '--vault-name', 'kv-mail', '--query', "[?name=='mail-callback-secret'] | length(@)"];
  const { code, stderr } = await runScript(['with-vault-access.sh', '--vault', 'kv-mail', ...read]);
  assert.equal(code, 0, stderr);
  const last = calls()
    .filter((call) => isCall(call, 'keyvault', 'secret', 'list'))
    .pop();
  assert.deepEqual(last?.args, read.slice(1));
  assert.deepEqual(last?.vault.ipRules, [`${ADDRESS}/32`]);
  const after = vaultNow();
  assert.deepEqual({ access: after.access, ipRules: after.ipRules }, { access: 'Disabled', ipRules: [] });
});
