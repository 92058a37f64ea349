import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config/load-config';
import { readLocalSettings } from '../src/config/local-settings';

const base = {
  MAIL_AUTH_MODE: 'clientSecret',
  MAIL_TENANT_ID: 'contoso.onmicrosoft.com',
  MAIL_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
  MAIL_CLIENT_SECRET: 'not-a-real-secret',
  MAIL_ALLOWED_SENDERS: 'noreply@contoso.com, @fabrikam.com',
  MailStorage: 'UseDevelopmentStorage=true',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

test('a complete client-secret configuration loads with Exchange Online defaults', () => {
  const config = loadConfig(base);
  assert.equal(config.auth.mode, 'clientSecret');
  assert.equal(config.auth.scope, 'https://outlook.office365.com/.default');
  assert.equal(config.auth.authorityHost, 'https://login.microsoftonline.com');
  assert.deepEqual([config.smtp.host, config.smtp.port, config.smtp.tlsMinVersion], ['smtp.office365.com', 587, 'TLSv1.2']);
  assert.deepEqual(config.allowedSenders, ['noreply@contoso.com', '@fabrikam.com']);
  assert.equal(config.smtp.maxConnectionsPerMailbox, 3);
  assert.equal(config.maxMessagesPerMinute, 30);
  assert.equal(config.maxMessageBytes, 35 * 1024 * 1024);
});

test('every problem is reported at once, each naming its setting', () => {
  const problems = problemsOf({ MAIL_AUTH_MODE: 'password', MAIL_SMTP_PORT: 'abc', MAIL_AUTHORITY_HOST: 'http://login.example' });
  const named = (name: string) => problems.some((p) => p.startsWith(`${name}:`));
  for (const name of ['MAIL_AUTH_MODE', 'MAIL_SMTP_PORT', 'MAIL_AUTHORITY_HOST', 'MAIL_ALLOWED_SENDERS', 'MailStorage']) {
    assert.ok(named(name), `${name} missing from ${JSON.stringify(problems)}`);
  }
});

test('client secret mode requires tenant, client id and secret; managed identity does not', () => {
  const problems = problemsOf({ ...base, MAIL_TENANT_ID: '', MAIL_CLIENT_ID: '', MAIL_CLIENT_SECRET: '' });
  assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['MAIL_CLIENT_ID', 'MAIL_CLIENT_SECRET', 'MAIL_TENANT_ID']);
  const mi = loadConfig({ ...base, MAIL_AUTH_MODE: 'managedIdentity', MAIL_TENANT_ID: '', MAIL_CLIENT_ID: '', MAIL_CLIENT_SECRET: '' });
  assert.equal(mi.auth.mode, 'managedIdentity');
  assert.equal(mi.auth.clientId, undefined);
});

test('an unresolved Key Vault reference is named without echoing it', () => {
  const reference = '@Microsoft.KeyVault(VaultName=kv;SecretName=mail-client-secret)';
  const problems = problemsOf({ ...base, MAIL_CLIENT_SECRET: reference });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^MAIL_CLIENT_SECRET: the Key Vault reference was not resolved/);
  assert.ok(!problems[0].includes('SecretName'));
});

test('the default sender must be one of the allowed senders', () => {
  assert.match(problemsOf({ ...base, MAIL_DEFAULT_SENDER: 'ceo@contoso.com' })[0], /^MAIL_DEFAULT_SENDER: /);
  assert.equal(loadConfig({ ...base, MAIL_DEFAULT_SENDER: 'alerts@fabrikam.com' }).defaultSender, 'alerts@fabrikam.com');
});

test('identity-based storage needs all three service endpoints', () => {
  const env = { ...base, MailStorage: '', MailStorage__queueServiceUri: 'https://acct.queue.core.windows.net' };
  assert.ok(problemsOf(env).some((p) => p.startsWith('MailStorage:')));
  const config = loadConfig({
    ...env,
    MailStorage__blobServiceUri: 'https://acct.blob.core.windows.net',
    MailStorage__tableServiceUri: 'https://acct.table.core.windows.net',
    MailStorage__clientId: 'abc',
  });
  assert.equal(config.storage.clientId, 'abc');
});

test('queue, table and container names are checked against Azure naming rules', () => {
  const problems = problemsOf({
    ...base,
    MAIL_QUEUE_NAME: 'Mail_Outbox',
    MAIL_STATUS_TABLE: 'mail-status',
    MAIL_PAYLOAD_CONTAINER: 'a--b',
  });
  assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['MAIL_PAYLOAD_CONTAINER', 'MAIL_QUEUE_NAME', 'MAIL_STATUS_TABLE']);
});

test("the daily recipient limit is Exchange's 10,000 unless set; a sender profile may set its own", () => {
  assert.equal(loadConfig(base).maxRecipientsPerDay, 10_000);
  assert.equal(loadConfig({ ...base, MAIL_MAX_RECIPIENTS_PER_DAY: '500' }).maxRecipientsPerDay, 500);
  assert.match(problemsOf({ ...base, MAIL_MAX_RECIPIENTS_PER_DAY: '0' })[0], /^MAIL_MAX_RECIPIENTS_PER_DAY: /);
  const profile = { name: 'p', senders: ['@contoso.com'], authMode: 'managedIdentity', maxRecipientsPerDay: 2_000 };
  const config = loadConfig({
    ...base,
    MAIL_ALLOWED_SENDERS: 'noreply@contoso.com, @contoso.com',
    MAIL_SENDER_PROFILES: JSON.stringify([profile]),
  });
  assert.equal(config.senderProfiles[0].maxRecipientsPerDay, 2_000);
});

test('local.settings.example.json copied unchanged is refused, each placeholder named once and no secret placeholder echoed', () => {
  const example = readLocalSettings(join(__dirname, '..', '..', 'local.settings.example.json'));
  const problems = problemsOf(example);
  const named = problems.map((p) => p.split(':')[0]);
  for (const name of ['MAIL_TENANT_ID', 'MAIL_CLIENT_ID', 'MAIL_CLIENT_SECRET']) {
    assert.equal(named.filter((n) => n === name).length, 1, `${name} once in ${JSON.stringify(problems)}`);
  }
  assert.ok(
    problems.every((p) => !p.includes(example.MAIL_CLIENT_SECRET)),
    'the secret setting is named, its value not shown',
  );
  assert.match(
    problems.find((p) => p.startsWith('MAIL_CLIENT_SECRET:'))!,
    /placeholder/,
  );
});

test('tenant and client ids: a GUID or verified domain for the tenant, a GUID for client ids, each problem naming its setting', () => {
  for (const tenant of ['contoso.onmicrosoft.com', 'contoso.com', '72f988bf-86f1-41af-91ab-2d7cd011db47']) {
    assert.equal(loadConfig({ ...base, MAIL_TENANT_ID: tenant }).auth.tenantId, tenant);
  }
  const bad = {
    MAIL_TENANT_ID: [
      'common',
      'contoso',
      'https://login.microsoftonline.com/contoso.com',
      '00000000-0000-0000-0000-000000000000',
      'my tenant',
    ],
    MAIL_CLIENT_ID: ['abc', '11111111-2222-3333-4444-55555555555', '{11111111-2222-3333-4444-555555555555}', 'contoso.com'],
    MAIL_MANAGED_IDENTITY_CLIENT_ID: ['system', '00000000-0000-0000-0000-000000000000'],
    MAIL_API_TENANT_ID: ['organizations'],
  };
  for (const [name, values] of Object.entries(bad)) {
    for (const value of values) {
      const problems = problemsOf({
        ...base,
        MAIL_AUTH_MODE: name === 'MAIL_MANAGED_IDENTITY_CLIENT_ID' ? 'federatedIdentity' : 'clientSecret',
        [name]: value,
      });
      assert.deepEqual(
        problems.map((p) => p.split(':')[0]),
        [name],
        `${name}=${value}: ${JSON.stringify(problems)}`,
      );
    }
  }
});

test("a sender profile's tenantId and clientId are checked the same way", () => {
  const profile = { name: 'fabrikam', senders: ['@fabrikam.com'], authMode: 'clientSecret', clientSecretSetting: 'MAIL_FABRIKAM_SECRET' };
  const env = (tenantId: string, clientId: string) => ({
    ...base,
    MAIL_FABRIKAM_SECRET: 'not-a-real-secret',
    MAIL_SENDER_PROFILES: JSON.stringify([{ ...profile, tenantId, clientId }]),
  });
  assert.equal(loadConfig(env('fabrikam.com', '11111111-2222-3333-4444-555555555555')).senderProfiles.length, 1);
  const problems = problemsOf(env('<fabrikam tenant>', 'abc'));
  assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['MAIL_SENDER_PROFILES[0].clientId', 'MAIL_SENDER_PROFILES[0].tenantId']);
});

test('delivery reports: off unless mailboxes are named; Exchange Online IMAP defaults; each mistake names its setting', () => {
  assert.equal(loadConfig(base).reports, undefined);
  const reports = loadConfig({ ...base, MAIL_REPORTS_MAILBOXES: 'NoReply@contoso.com, sales@fabrikam.com' }).reports;
  assert.deepEqual(reports?.mailboxes, ['noreply@contoso.com', 'sales@fabrikam.com']);
  assert.deepEqual(
    [reports?.reader.host, reports?.reader.port, reports?.reader.sourceFolder, reports?.reader.reportsFolder, reports?.reader.maxReports],
    ['outlook.office365.com', 993, 'INBOX', 'Delivery reports', 100],
  );
  const problems = problemsOf({
    ...base,
    MAIL_REPORTS_MAILBOXES: 'someone@elsewhere.com, @contoso.com',
    MAIL_REPORTS_FOLDER: 'inbox',
    MAIL_REPORTS_SOURCE_FOLDER: 'Reports*',
    MAIL_REPORTS_MAX_PER_RUN: '0',
    MAIL_REPORTS_MAX_BYTES: '100',
  });
  for (const name of ['MAIL_REPORTS_MAILBOXES', 'MAIL_REPORTS_SOURCE_FOLDER', 'MAIL_REPORTS_MAX_PER_RUN', 'MAIL_REPORTS_MAX_BYTES']) {
    assert.ok(
      problems.some((p) => p.startsWith(`${name}:`)),
      `${name} in ${problems.join('; ')}`,
    );
  }
  assert.deepEqual(problemsOf({ ...base, MAIL_REPORTS_MAILBOXES: 'someone@elsewhere.com', MAIL_REPORTS_FOLDER: 'INBOX' }), [
    'MAIL_REPORTS_MAILBOXES: someone@elsewhere.com is not in MAIL_ALLOWED_SENDERS',
    'MAIL_REPORTS_FOLDER: must differ from MAIL_REPORTS_SOURCE_FOLDER (reports are moved out of it)',
  ]);
});
