// The hook settings: every problem named at once, naming the setting and the hook, never echoing a secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/config/load-config';

const BASE = { MAIL_AUTH_MODE: 'managedIdentity', MAIL_ALLOWED_SENDERS: '@contoso.example', MailStorage: 'UseDevelopmentStorage=true' };
const HOOK = { template: 'generic', signature: 'standard-webhooks', senders: ['saas@contoso.example'] };

function problems(settings: Record<string, string>): string[] {
  try {
    loadConfig({ ...BASE, ...settings });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

test('a signed hook loads with its secret; secrets never appear in a problem', () => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
  const config = loadConfig({ ...BASE, MAIL_HOOKS: JSON.stringify([HOOK]), MAIL_HOOK_SECRETS: JSON.stringify({ generic: secret }) });
  assert.deepEqual(config.hooks.secrets.get('generic'), [secret]);
  assert.equal(config.hooks.maxPayloadBytes, 1024 * 1024);
  assert.equal(config.hooks.cacheSeconds, 60);

  const weak = 'whsec_c2hvcnQ=';
  const found = problems({
    MAIL_HOOKS: JSON.stringify([HOOK, { template: 'github-push', signature: 'github', senders: ['ci@elsewhere.example'] }]),
    MAIL_HOOK_SECRETS: JSON.stringify({ generic: weak, 'github-push': 'short', typo: 'x'.repeat(20) }),
  });
  assert.deepEqual(found, [
    'MAIL_HOOK_SECRETS.generic: too short: at least 16 bytes after whsec_',
    'MAIL_HOOKS[1].senders: ci@elsewhere.example is not within MAIL_ALLOWED_SENDERS',
    'MAIL_HOOK_SECRETS.github-push: too short: at least 16 characters',
    'MAIL_HOOK_SECRETS: "typo" is not a template in MAIL_HOOKS',
  ]);
  assert.ok(!found.join('\n').includes('c2hvcnQ') && !found.join('\n').includes('short"'), 'no secret echoed');
});

test('a signed hook needs a secret, a valid scheme and a caller name of its own', () => {
  assert.deepEqual(problems({ MAIL_HOOKS: JSON.stringify([HOOK]) }), ['MAIL_HOOK_SECRETS: no secret for the signed hook generic']);
  assert.match(
    problems({ MAIL_HOOKS: JSON.stringify([{ ...HOOK, signature: 'hmac' }]) })[0],
    /MAIL_HOOKS\[0\]\.signature: must be one of standard-webhooks, github/,
  );
  assert.match(problems({ MAIL_HOOKS: JSON.stringify([{ ...HOOK, template: '../x' }]) })[0], /MAIL_HOOKS\[0\]\.template: a template name/);
  const collision = problems({
    MAIL_HOOKS: JSON.stringify([HOOK]),
    MAIL_HOOK_SECRETS: JSON.stringify({ generic: `whsec_${Buffer.alloc(32).toString('base64')}` }),
    MAIL_CALLERS: JSON.stringify([{ name: 'hook.generic', keySha256: 'a'.repeat(64), senders: ['@contoso.example'] }]),
  });
  assert.deepEqual(collision, ['MAIL_HOOKS[0]: a MAIL_CALLERS entry is named hook.generic, the name this hook sends as']);
});

test('an unresolved Key Vault reference for the hook secrets is named without its text', () => {
  const reference = '@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/hook-secrets/)';
  const found = problems({ MAIL_HOOKS: JSON.stringify([HOOK]), MAIL_HOOK_SECRETS: reference });
  assert.ok(
    found.some((p) => p.startsWith('MAIL_HOOK_SECRETS: the Key Vault reference was not resolved')),
    found.join('\n'),
  );
  assert.ok(!found.join('\n').includes('kv.vault.azure.net'));
});

test('each signed hook has a secret of its own, and none is the callback secret', () => {
  const shared = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
  const callback = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
  const found = problems({
    MAIL_HOOKS: JSON.stringify([HOOK, { ...HOOK, template: 'generic-two' }, { ...HOOK, template: 'generic-three' }]),
    MAIL_HOOK_SECRETS: JSON.stringify({ generic: shared, 'generic-two': [callback, shared], 'generic-three': callback }),
    MAIL_CALLBACK_HOSTS: 'hooks.example.com',
    // While rotating: the current and the next callback secret, either of which a hook must not share.
    MAIL_CALLBACK_SECRET: `whsec_${Buffer.alloc(32, 4).toString('base64')} ${callback}`,
  });
  assert.deepEqual(found, [
    'MAIL_HOOK_SECRETS.generic-two: the same secret as MAIL_CALLBACK_SECRET; the hook would take our own callbacks',
    'MAIL_HOOK_SECRETS.generic-two: the same secret as generic; each signed hook needs its own',
    'MAIL_HOOK_SECRETS.generic-three: the same secret as generic-two; each signed hook needs its own',
    'MAIL_HOOK_SECRETS.generic-three: the same secret as MAIL_CALLBACK_SECRET; the hook would take our own callbacks',
  ]);
  assert.ok(!found.join('\n').includes(shared.slice(6)) && !found.join('\n').includes(callback.slice(6)), 'no secret echoed');
});
