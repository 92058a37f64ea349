// Ties the app settings the Bicep sets (infra/modules/functionapp.bicep) to the settings the code reads
// (SETTINGS in src/config.ts), and the storage names in infra/ to the code defaults.
// Reads Bicep source text; no compiler needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../src/settings';
import { AUTH_MODES } from '../src/identity/auth-mode';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const FUNCTION_APP = join(ROOT, 'infra', 'modules', 'functionapp.bicep');
const MAIN = join(ROOT, 'infra', 'main.bicep');
const STORAGE = join(ROOT, 'infra', 'modules', 'storage.bicep');

/** Settings the Functions host or the platform reads. Anything else the Bicep sets must be in SETTINGS. */
const HOST_SETTINGS = new Set([
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
]);

/**
 * Auth modes the infra offers before the code implements them, with the settings only they use.
 * Keep this honest: the test fails once the code knows the mode (then delete the entry here).
 */
const AWAITING_CODE: Record<string, readonly string[]> = {};

// ---- a small Bicep reader: enough for object literals of `name: value` lines -----------------------------------

/** Replaces comments and string contents with spaces (same length), so braces can be counted. */
function mask(src: string): string {
  let out = '';
  let inString = false;
  const interp: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    const next = src[i + 1];
    if (!inString) {
      if (c === '/' && next === '/') {
        while (i < src.length && src[i] !== '\n') { out += ' '; i++; }
        out += src[i] ?? '';
        continue;
      }
      if (c === "'") { inString = true; out += c; continue; }
      if (interp.length > 0) {
        if (c === '{') interp[interp.length - 1]!++;
        if (c === '}') {
          if (interp[interp.length - 1] === 0) { interp.pop(); inString = true; out += ' '; continue; }
          interp[interp.length - 1]!--;
        }
      }
      out += c;
      continue;
    }
    if (c === '\\') { out += '  '; i++; continue; }
    if (c === "'") { inString = false; out += c; continue; }
    if (c === '$' && next === '{') { interp.push(0); inString = false; out += '  '; i++; continue; }
    out += c === '\n' ? '\n' : ' ';
  }
  return out;
}

interface Entry { key: string; value: string }

/** The body of `var <name> = { ... }` as [start, end) offsets. */
function varObject(masked: string, name: string): [number, number] {
  const m = new RegExp(`^var\\s+${name}\\s*=\\s*\\{`, 'm').exec(masked);
  assert.ok(m, `infra: no "var ${name} = {" object found; test/infra-settings.test.ts reads the settings from it`);
  const open = m.index + m[0].length - 1;
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    if (masked[i] === '{') depth++;
    if (masked[i] === '}' && --depth === 0) return [open + 1, i];
  }
  assert.fail(`infra: "var ${name}" is not closed`);
}

/** `key: value` entries at depth 0 of an object body; values are read from the unmasked source. */
function entries(src: string, masked: string, [start, end]: [number, number]): (Entry & { range: [number, number] })[] {
  const result: (Entry & { range: [number, number] })[] = [];
  let depth = 0;
  let lineStart = start;
  for (let i = start; i <= end; i++) {
    const c = masked[i];
    if (i === end || (c === '\n' && depth === 0)) {
      const line = masked.slice(lineStart, i);
      const m = /^\s*([A-Za-z_]\w*|'[^']*')\s*:\s*/.exec(line);
      if (m && depth === 0) {
        const valueStart = lineStart + m[0].length;
        const key = m[1]!.replace(/^'|'$/g, '');
        result.push({ key, value: src.slice(valueStart, i).trim(), range: [valueStart, i] });
      }
      lineStart = i + 1;
      continue;
    }
    // A line is complete only at depth 0, so a multi-line value (an object) stays with its key.
    if (c === '{' || c === '[' || c === '(') depth++;
    if (c === '}' || c === ']' || c === ')') depth--;
  }
  return result;
}

function readSettings() {
  const src = readFileSync(FUNCTION_APP, 'utf8');
  const masked = mask(src);
  const block = (name: string) => entries(src, masked, varObject(masked, name));
  const host = block('hostSettings');
  const mail = block('mailSettings');
  const optional = block('optionalSettingCandidates');
  const modes = new Map<string, Entry[]>();
  for (const mode of block('authSettings')) {
    const [open, close] = mode.range;
    const inner: [number, number] = [src.indexOf('{', open) + 1, close - 1];
    modes.set(mode.key, entries(src, masked, inner));
  }
  return { src, host, mail, optional, modes };
}

const settings = readSettings();
const specs = new Map(SETTINGS.map((s) => [s.name, s]));
const names = (list: Entry[]) => list.map((e) => e.key);
const everyBicepName = [
  ...names(settings.host),
  ...names(settings.mail),
  ...names(settings.optional),
  ...[...settings.modes.values()].flatMap(names),
];

/** The auth modes the code knows. */
const codeModes = (): string[] => [...AUTH_MODES];

test('the Bicep setting blocks were found and are not empty', () => {
  assert.ok(settings.host.length > 0, 'hostSettings is empty');
  assert.ok(settings.mail.length > 0, 'mailSettings is empty');
  assert.ok(settings.modes.size > 0, 'authSettings has no modes');
  for (const [mode, list] of settings.modes) assert.ok(list.length > 0, `authSettings.${mode} is empty`);
  assert.ok(settings.optional.length > 0, 'optionalSettingCandidates is empty');
});

test('every app setting the Bicep sets is read by the code or is an explicitly allowed host setting', () => {
  const awaiting = new Set(Object.values(AWAITING_CODE).flat());
  const unknown = everyBicepName.filter((name) => !specs.has(name) && !HOST_SETTINGS.has(name) && !awaiting.has(name));
  assert.deepEqual(unknown, [], `infra sets settings that src/config.ts SETTINGS does not list (the code would ignore them): ${unknown.join(', ')}`);
  const mailLike = everyBicepName.filter((name) => /^(MAIL_|MailStorage)/.test(name));
  for (const name of mailLike) {
    assert.ok(specs.has(name) || awaiting.has(name), `${name} is set by infra but not in SETTINGS`);
  }
  for (const name of everyBicepName.filter((n) => HOST_SETTINGS.has(n))) {
    assert.ok(!/^(MAIL_|MailStorage)/.test(name), `${name} is an app setting, not a host setting`);
  }
});

test('host settings: identity-based AzureWebJobsStorage and Entra-authenticated Application Insights', () => {
  const host = new Map(settings.host.map((e) => [e.key, e.value]));
  assert.deepEqual([...host.keys()].sort(), [...HOST_SETTINGS].sort());
  assert.equal(host.get('AzureWebJobsStorage__credential'), "'managedidentity'");
  assert.match(host.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING') ?? '', /^'ClientId=\$\{identityClientId\};Authorization=AAD'$/);
  const mail = new Map(settings.mail.map((e) => [e.key, e.value]));
  assert.equal(mail.get('MailStorage__credential'), "'managedidentity'");
  assert.equal(mail.get('MailStorage__clientId'), 'identityClientId');
  assert.equal(host.get('AzureWebJobsStorage__clientId'), 'identityClientId');
});

test('every auth mode of the code is deployable, and each mode sets exactly what the code requires', () => {
  const known = codeModes();
  const bicepModes = [...settings.modes.keys()];
  for (const mode of known) assert.ok(settings.modes.has(mode), `authSettings has no block for the code's mode ${mode}`);
  for (const mode of bicepModes) {
    assert.ok(known.includes(mode) || mode in AWAITING_CODE, `infra offers auth mode ${mode}, which src/config.ts does not accept`);
  }
  for (const [mode, awaited] of Object.entries(AWAITING_CODE)) {
    assert.ok(!known.includes(mode), `src/config.ts now implements ${mode}: remove it from AWAITING_CODE in this test`);
    for (const name of awaited) {
      assert.ok(!specs.has(name), `${name} is now in SETTINGS: remove it from AWAITING_CODE in this test`);
      for (const [other, list] of settings.modes) {
        if (other !== mode) assert.ok(!names(list).includes(name), `${name} (awaiting code for ${mode}) is also set in mode ${other}`);
      }
    }
  }

  for (const mode of known) {
    const set = new Set([...names(settings.host), ...names(settings.mail), ...names(settings.modes.get(mode)!)]);
    for (const spec of SETTINGS) {
      const { requirement } = spec;
      if (requirement === 'optional') continue;
      if (requirement === 'always') {
        assert.ok(set.has(spec.name), `mode ${mode}: ${spec.name} is always required but infra does not set it`);
      } else if ('oneOf' in requirement) {
        assert.ok(requirement.oneOf.some((a) => set.has(a)), `mode ${mode}: ${spec.name} needs one of ${requirement.oneOf.join(', ')}`);
      } else {
        const modes: readonly string[] = requirement;
        // Settings a mode does not require may still be read in it (MAIL_CLIENT_ID names the user-assigned
        // identity in managedIdentity mode); credentials are checked separately below.
        if (modes.includes(mode)) assert.ok(set.has(spec.name), `mode ${mode}: ${spec.name} is required in this mode but not set`);
      }
    }
  }
});

test('secrets reach the app only as Key Vault references, and only in the modes that need them', () => {
  const reference = /^var keyVaultReference = '@Microsoft\.KeyVault\(VaultName=\$\{keyVaultName\};SecretName=\$\{credentialName\}\)'$/m;
  assert.match(settings.src, reference);
  for (const [mode, list] of settings.modes) {
    for (const { key, value } of list) {
      if (key === 'MAIL_CLIENT_SECRET' || key === 'MAIL_CLIENT_CERTIFICATE') {
        assert.equal(value, 'keyVaultReference', `${mode}: ${key} must be the Key Vault reference`);
      }
    }
    const secretNames = names(list).filter((n) => n === 'MAIL_CLIENT_SECRET' || n === 'MAIL_CLIENT_CERTIFICATE');
    const expected = mode === 'clientSecret' ? ['MAIL_CLIENT_SECRET'] : mode === 'clientCertificate' ? ['MAIL_CLIENT_CERTIFICATE'] : [];
    assert.deepEqual(secretNames, expected, `mode ${mode}`);
  }
  for (const list of [settings.host, settings.mail, settings.optional]) {
    assert.ok(!names(list).some((n) => /SECRET|CERTIFICATE|PASSWORD/i.test(n)), 'credentials belong in authSettings only');
  }
});

test('optional settings are overrides of optional code settings', () => {
  for (const { key } of settings.optional) {
    const spec = specs.get(key);
    assert.ok(spec, `${key} is not in SETTINGS`);
    assert.equal(spec.requirement, 'optional', `${key} is required by the code, so it must not be optional in infra`);
  }
});

test('queue, table and container names match between infra and the code defaults', () => {
  const main = readFileSync(MAIN, 'utf8');
  const storage = readFileSync(STORAGE, 'utf8');
  const mail = new Map(settings.mail.map((e) => [e.key, e.value]));
  const pairs: [setting: string, param: string][] = [
    ['MAIL_QUEUE_NAME', 'queueName'],
    ['MAIL_STATUS_TABLE', 'statusTableName'],
    ['MAIL_PAYLOAD_CONTAINER', 'payloadContainerName'],
    ['MAIL_GOVERNOR_CONTAINER', 'governorContainerName'],
  ];
  for (const [setting, param] of pairs) {
    // The app setting is always set (the trigger resolves %MAIL_QUEUE_NAME% from app settings, not code defaults)
    // and comes from the same parameter that names the resource.
    assert.equal(mail.get(setting), param, `${setting} must be set from the '${param}' parameter`);
    const m = new RegExp(`^param\\s+${param}\\s+string\\s*=\\s*'([^']*)'`, 'm').exec(main);
    assert.ok(m, `infra/main.bicep: no default for param ${param}`);
    assert.equal(m[1], specs.get(setting)?.default, `infra/main.bicep ${param} default vs SETTINGS ${setting} default`);
    assert.match(storage, new RegExp(`^param\\s+${param}\\s+string`, 'm'), `storage.bicep creates the resource from ${param}`);
  }
  // The queue trigger moves failed messages to <queue>-poison; infra creates it (and grants on it).
  assert.match(storage, /name: '\$\{queueName\}-poison'/);
  // Each name parameter of storage.bicep names a resource of the right type.
  assert.match(storage, /queueServices\/queues@[^']+' = \{\s*parent: queueService\s*name: queueName\s*\}/);
  assert.match(storage, /tableServices\/tables@[^']+' = \{\s*parent: tableService\s*name: statusTableName\s*\}/);
  assert.match(storage, /for containerName in \[payloadContainerName, governorContainerName\]/);
});

test('host storage and mail storage are two accounts, and the app settings point each connection at its own', () => {
  const main = readFileSync(MAIN, 'utf8');
  const hostStorage = readFileSync(join(ROOT, 'infra', 'modules', 'host-storage.bicep'), 'utf8');
  const host = new Map(settings.host.map((e) => [e.key, e.value]));
  const mail = new Map(settings.mail.map((e) => [e.key, e.value]));
  // The mail path must not reach the host's keys (azure-webjobs-secrets) or the deployment package.
  assert.equal(host.get('AzureWebJobsStorage__accountName'), 'hostStorage.name');
  for (const service of ['queue', 'blob', 'table']) {
    assert.equal(mail.get(`MailStorage__${service}ServiceUri`), `mailStorage.properties.primaryEndpoints.${service}`);
  }
  assert.match(settings.src, /value: '\$\{hostStorage\.properties\.primaryEndpoints\.blob\}\$\{deploymentContainerName\}'/);
  assert.match(hostStorage, /containers@[^']+' = \{\s*parent: blobService\s*name: deploymentContainerName/);
  assert.match(main, /^var hostStorageAccountName = '[^']+'$/m);
  assert.match(main, /^var mailStorageAccountName = '[^']+'$/m);
  assert.notEqual(/^var hostStorageAccountName = '([^']+)'$/m.exec(main)?.[1], /^var mailStorageAccountName = '([^']+)'$/m.exec(main)?.[1]);
});
