// The doctor against the real local stack: a good setup passes in every auth mode, each sender profile with its own
// token and SMTP endpoint; each broken part fails its own check with the step that fixes it; no secret or token ever
// reaches the output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import { createTokenSource } from '../src/identity/token-source';
import { createStorageClients } from '../src/storage/clients';
import { provisionStorage } from '../src/storage/provision';
import { APP_ROOT } from '../src/app-root';
import type { AuthMode } from '../src/identity/auth-mode';
import {
  startLocalStack,
  LOCAL_CLIENT_ID,
  LOCAL_FABRIKAM_CLIENT_ID,
  LOCAL_FABRIKAM_SECRET_SETTING,
  LOCAL_FABRIKAM_SENDER,
  LOCAL_FABRIKAM_TENANT_ID,
  LOCAL_SENDER,
  LOCAL_TENANT_ID,
  type LocalStack,
} from '../sandbox/stack';
import { ensureLocalCertificates } from '../sandbox/certs';
import { startSmtpSink } from '../sandbox/smtp-sink';
import { appDoctorDeps } from '../src/doctor/defaults';
import { formatJson, formatText } from '../src/doctor/format';
import { runChecks, type DoctorDeps } from '../src/doctor/run-checks';
import type { CheckResult, DoctorReport } from '../src/doctor/report';

const MAIN = join(__dirname, '..', 'sandbox', 'doctor.js');
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/;

describe('doctor', { timeout: 180_000 }, () => {
  let stack: LocalStack;
  /** Every token the doctor's token sources handed out: none may appear in its output. */
  const issued: string[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'doctor-test-'));

  before(async () => {
    stack = await startLocalStack();
    try {
      const config = loadConfig(stack.settings('clientSecret'));
      await provisionStorage(config, createStorageClients(config.storage));
      // @azure/identity finds the managed identity endpoint in the environment.
      Object.assign(process.env, stack.managedIdentity.env);
    } catch (error) {
      await stack.stop();
      throw error;
    }
  });
  after(async () => {
    rmSync(scratch, { recursive: true, force: true });
    await stack?.stop();
  });

  function deps(env: Record<string, string>, more: Partial<DoctorDeps> = {}): DoctorDeps {
    return {
      ...appDoctorDeps(env),
      createTokenSource(auth) {
        const source = createTokenSource(auth);
        return {
          getToken: async (options) => {
            const t = await source.getToken(options);
            issued.push(t.token);
            return t;
          },
        };
      },
      storageTimeoutMs: 3_000,
      ...more,
    };
  }

  const byId = (report: DoctorReport, id: string): CheckResult => {
    const found = report.checks.find((c) => c.id === id);
    assert.ok(found, `no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
    return found;
  };

  /** The report as printed both ways carries neither profile's client secret nor any token issued. */
  function assertNothingSecret(report: DoctorReport, extraSecrets: string[] = []): string {
    const output = `${formatText(report)}\n${formatJson(report)}`;
    for (const secret of [stack.clientSecret, stack.fabrikamSecret, ...extraSecrets])
      assert.ok(!output.includes(secret), 'a secret is in the output');
    assert.ok(issued.length > 0 || !report.checks.some((c) => c.id === 'token' && c.status === 'pass'));
    for (const token of issued) assert.ok(!output.includes(token), 'a token is in the output');
    assert.doesNotMatch(output, JWT);
    return output;
  }

  for (const mode of ['clientSecret', 'clientCertificate', 'managedIdentity', 'federatedIdentity'] as AuthMode[]) {
    test(`${mode}: every check passes against the sandbox, for both profiles; the domain entries are reported as not checkable`, async () => {
      const settings = stack.settings(mode);
      const report = await runChecks(deps(settings));
      const output = assertNothingSecret(report, mode === 'clientCertificate' ? [stack.clientCertificate.keyPem.split('\n')[1]] : []);
      assert.equal(report.ok, true, output);
      const senders = settings.MAIL_ALLOWED_SENDERS.split(',');
      assert.ok(senders.includes(LOCAL_SENDER) && senders.includes('@contoso.example'));
      assert.deepEqual(
        report.checks.map((c) => `${c.status} ${c.id}`),
        [
          'pass settings',
          'pass keyvault',
          'pass token',
          'pass token:fabrikam',
          ...senders.filter((s) => !s.startsWith('@')).map((s) => `pass smtp:${s}`),
          ...senders.filter((s) => s.startsWith('@')).map((s) => `skip smtp:${s}`),
          'pass storage:queue:mail-outbox',
          'pass storage:queue:mail-outbox-poison',
          'pass storage:table:mailstatus',
          'pass storage:container:mail-payloads',
          'pass storage:container:mail-governor',
        ],
      );
      const token = byId(report, 'token');
      const claims = token.data?.claims as { aud: string; appid: string; roles: string[]; exp: number };
      assert.equal(claims.aud, 'https://outlook.office365.com');
      assert.deepEqual(claims.roles, ['SMTP.SendAsApp']);
      assert.equal(token.data?.sendAsApp, true);
      if (mode === 'clientSecret' || mode === 'clientCertificate') assert.equal(claims.appid, LOCAL_CLIENT_ID);
      assert.equal((claims as { tid?: string }).tid, LOCAL_TENANT_ID);
      // The fabrikam profile's own app registration in its own tenant, whatever the default profile's mode.
      const fabrikam = byId(report, 'token:fabrikam');
      assert.deepEqual(
        [(fabrikam.data?.claims as { appid: string }).appid, (fabrikam.data?.claims as { tid: string }).tid, fabrikam.data?.tenantMatches],
        [LOCAL_FABRIKAM_CLIENT_ID, LOCAL_FABRIKAM_TENANT_ID, true],
      );
      assert.match(output, /^✓ Access token \(profile default, \w+\) for https:\/\/outlook\.office365\.com\/\.default: issued$/m);
      assert.match(output, /^✓ Access token \(profile fabrikam, clientSecret\) for [^\n]+: issued$/m);
      assert.match(output, new RegExp(`^ {4}tid {4}${LOCAL_FABRIKAM_TENANT_ID}  ← the profile's tenant$`, 'm'));
      assert.match(
        output,
        /^✓ SMTP as noreply@contoso\.example \(profile default\) at localhost:\d+: connected, STARTTLS, AUTH XOAUTH2, QUIT$/m,
      );
      assert.match(output, /^– SMTP as @contoso\.example \(profile default\): not checked, a domain entry names no mailbox$/m);
      assert.match(output, /^– SMTP as @fabrikam\.example \(profile fabrikam\): not checked, a domain entry names no mailbox$/m);
      assert.match(output, /^ {4}profile fabrikam: clientSecret, tenant [0-9a-f-]{36}, SMTP localhost:\d+, senders @fabrikam\.example$/m);
      assert.match(output, /^ {4}oid {4}[0-9a-f-]{36} {2}← the service principal's object id/m);
      // Nothing was sent: the doctor stops at AUTH.
      assert.equal(stack.smtp.messages.length, 0);
      assert.ok(!stack.smtp.connections.some((c) => c.events.some((e) => e.type === 'mail')));
    });
  }

  /** The stack's settings with the fabrikam mailbox itself listed, so its AUTH is checked too; `profile` changes that profile. */
  function withFabrikamMailbox(mode: AuthMode, profile: Record<string, unknown> = {}): Record<string, string> {
    const base = stack.settings(mode);
    const [fabrikam] = JSON.parse(base.MAIL_SENDER_PROFILES) as Array<Record<string, unknown>>;
    return {
      ...base,
      MAIL_ALLOWED_SENDERS: `${base.MAIL_ALLOWED_SENDERS},${LOCAL_FABRIKAM_SENDER}`,
      MAIL_SENDER_PROFILES: JSON.stringify([{ ...fabrikam, ...profile }]),
    };
  }

  const authAccepted = (mailbox: string) =>
    stack.smtp.connections.filter((c) => c.events.some((e) => e.type === 'auth' && e.ok && e.address === mailbox)).length;

  for (const mode of ['clientSecret', 'managedIdentity'] as AuthMode[]) {
    test(`${mode}: each profile's mailbox passes AUTH with its own profile's token and endpoint`, async () => {
      const requests = stack.entra.hits.byClientId[LOCAL_FABRIKAM_CLIENT_ID] ?? 0;
      const accepted = authAccepted(LOCAL_FABRIKAM_SENDER);
      const report = await runChecks(deps(withFabrikamMailbox(mode)));
      const output = assertNothingSecret(report);
      assert.equal(report.ok, true, output);
      // The server takes only a token of the mailbox's own tenant: passing AUTH shows fabrikam's token was offered.
      assert.match(
        output,
        /^✓ SMTP as noreply@contoso\.example \(profile default\) at localhost:\d+: connected, STARTTLS, AUTH XOAUTH2, QUIT$/m,
      );
      assert.match(
        output,
        /^✓ SMTP as noreply@fabrikam\.example \(profile fabrikam\) at localhost:\d+: connected, STARTTLS, AUTH XOAUTH2, QUIT$/m,
      );
      assert.equal(authAccepted(LOCAL_FABRIKAM_SENDER), accepted + 1);
      assert.equal(stack.entra.hits.byClientId[LOCAL_FABRIKAM_CLIENT_ID], requests + 1, 'one token request for the fabrikam profile');
      assert.equal(stack.smtp.messages.length, 0);
    });
  }

  test("a profile that points at another tenant: its mailbox's AUTH is refused (535 5.7.3), and the fix says the profile's tenant must be the mailbox's", async () => {
    // fabrikam's mailboxes, but contoso's app registration and tenant: a contoso token offered for a fabrikam mailbox.
    const settings = withFabrikamMailbox('clientSecret', {
      tenantId: LOCAL_TENANT_ID,
      clientId: LOCAL_CLIENT_ID,
      clientSecretSetting: 'MAIL_CLIENT_SECRET',
    });
    const report = await runChecks(deps(settings));
    const output = assertNothingSecret(report);
    assert.equal(report.ok, false);
    // A good token of the tenant the profile names: only Exchange can tell it is the wrong one for the mailbox.
    assert.equal(byId(report, 'token:fabrikam').status, 'pass');
    assert.equal(byId(report, `smtp:${LOCAL_SENDER}`).status, 'pass');
    const smtp = byId(report, `smtp:${LOCAL_FABRIKAM_SENDER}`);
    assert.equal(smtp.status, 'fail');
    assert.match(smtp.details![0], /^535 5\.7\.3/);
    assert.match(smtp.fix!, new RegExp(`token of profile fabrikam \\(tenant ${LOCAL_TENANT_ID}\\) for noreply@fabrikam\\.example`));
    assert.match(smtp.fix!, /the profile's tenant must be the mailbox's tenant: check the tenantId of profile fabrikam/);
    assert.match(output, /^✗ SMTP as noreply@fabrikam\.example \(profile fabrikam\) at localhost:\d+: refused$/m);
  });

  test("a wrong secret in the fabrikam profile's setting fails that profile's token check naming its setting; the default profile still passes", async () => {
    const wrong = `wrong-${Math.random().toString(36).slice(2)}`;
    const report = await runChecks(deps({ ...withFabrikamMailbox('clientSecret'), [LOCAL_FABRIKAM_SECRET_SETTING]: wrong }));
    assertNothingSecret(report, [wrong]);
    const token = byId(report, 'token:fabrikam');
    assert.equal(token.status, 'fail');
    assert.match(token.title, /^Access token \(profile fabrikam, clientSecret\)/);
    assert.match(token.details!.join(' '), /AADSTS7000215/);
    assert.match(
      token.fix!,
      new RegExp(`^The client secret is wrong: ${LOCAL_FABRIKAM_SECRET_SETTING} .*the clientId of profile fabrikam`),
    );
    const smtp = byId(report, `smtp:${LOCAL_FABRIKAM_SENDER}`);
    assert.equal(smtp.status, 'skip');
    assert.match(smtp.title, /not checked, no access token for profile fabrikam$/);
    assert.equal(byId(report, 'token').status, 'pass');
    assert.equal(byId(report, `smtp:${LOCAL_SENDER}`).status, 'pass');
  });

  test("a token of another tenant than the profile names fails that profile's token check, naming both tenants", async () => {
    // A token source that hands the fabrikam profile contoso's token, as a wrong authority might.
    const settings = withFabrikamMailbox('clientSecret');
    const base = deps(settings);
    const contoso = loadConfig(settings).auth;
    const report = await runChecks({
      ...base,
      createTokenSource: (auth) => base.createTokenSource(auth.tenantId === LOCAL_FABRIKAM_TENANT_ID ? contoso : auth),
    });
    assertNothingSecret(report);
    const token = byId(report, 'token:fabrikam');
    assert.equal(token.status, 'fail');
    assert.match(token.title, new RegExp(`: issued for tenant ${LOCAL_TENANT_ID}, not the profile's tenant ${LOCAL_FABRIKAM_TENANT_ID}$`));
    assert.match(token.fix!, /only a token of the mailbox's own tenant.*the tenantId of profile fabrikam/);
    assert.equal(token.data?.tenantMatches, false);
    assert.match(byId(report, `smtp:${LOCAL_FABRIKAM_SENDER}`).details![0], /^535 5\.7\.3/);
  });

  test("the fabrikam profile's secret is redacted even where a reply quotes it", async () => {
    const quoting = () => Promise.reject(Object.assign(new Error('refused'), { response: `535 5.7.3 was given ${stack.fabrikamSecret}` }));
    const report = await runChecks(deps(withFabrikamMailbox('clientSecret'), { probeSmtp: quoting }));
    assertNothingSecret(report);
    assert.equal(byId(report, `smtp:${LOCAL_FABRIKAM_SENDER}`).details![0], '535 5.7.3 was given [secret]');
  });

  test('a wrong client secret fails the token check with the AADSTS code and what to do; SMTP is not tried', async () => {
    const wrong = `wrong-${Math.random().toString(36).slice(2)}`;
    const report = await runChecks(deps({ ...stack.settings('clientSecret'), MAIL_CLIENT_SECRET: wrong }));
    const output = assertNothingSecret(report, [wrong]);
    assert.equal(report.ok, false);
    const token = byId(report, 'token');
    assert.equal(token.status, 'fail');
    assert.match(token.details!.join(' '), /AADSTS7000215/);
    assert.match(token.fix!, /MAIL_CLIENT_SECRET/);
    assert.equal(byId(report, `smtp:${LOCAL_SENDER}`).status, 'skip');
    assert.equal(byId(report, 'storage:queue:mail-outbox').status, 'pass');
    assert.match(output, /^✗ Access token \(profile default, clientSecret\)/m);
  });

  test('a token endpoint that never answers fails the token check within its time limit', async () => {
    // A real listener that accepts connections and never says a word.
    const held = new Set<Socket>();
    const silent = createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const started = Date.now();
      const report = await runChecks(
        deps({ ...stack.settings('clientSecret'), MAIL_AUTHORITY_HOST: `https://localhost:${port}` }, { tokenTimeoutMs: 1_000 }),
      );
      assert.ok(Date.now() - started < 10_000);
      const token = byId(report, 'token');
      assert.equal(token.status, 'fail');
      assert.match(token.details![0], /no token within 1 s/);
      assert.match(token.fix!, /MAIL_AUTHORITY_HOST/);
      assert.equal(byId(report, `smtp:${LOCAL_SENDER}`).status, 'skip');
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  const replies: Array<[string, RegExp]> = [
    ['535 5.7.3 Authentication unsuccessful', /Register-ExchangeSender\.ps1.*New-ServicePrincipal/],
    [
      '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.',
      /Set-CASMailbox noreply@contoso\.example -SmtpClientAuthenticationDisabled \$false.*security defaults are on.*Conditional Access/,
    ],
  ];
  for (const [reply, fix] of replies) {
    test(`Exchange answering AUTH with "${reply.split(' ').slice(0, 2).join(' ')}" fails the mailbox's SMTP check with its fix`, async () => {
      stack.smtp.inject({ stage: 'auth', reply, times: 1 });
      try {
        const report = await runChecks(deps(stack.settings('clientSecret')));
        assertNothingSecret(report);
        const smtp = byId(report, `smtp:${LOCAL_SENDER}`);
        assert.equal(smtp.status, 'fail');
        assert.equal(smtp.details?.[0], reply);
        assert.match(smtp.fix!, fix);
        assert.equal(byId(report, 'token').status, 'pass');
        assert.equal(report.ok, false);
      } finally {
        stack.smtp.clearFaults();
      }
    });
  }

  test('a sender the SMTP server does not know fails on its own; the known one passes', async () => {
    // The same Exchange stand-in, told which mailboxes exist: AUTH as any other gets 535 5.7.3, as from Exchange.
    const sink = await startSmtpSink({
      tls: await ensureLocalCertificates(join(APP_ROOT, '.local', 'certs')),
      tokens: stack.tokens,
      mailboxes: [LOCAL_SENDER],
    });
    try {
      const base = stack.settings('clientSecret');
      const settings = {
        ...base,
        MAIL_SMTP_PORT: String(sink.port),
        MAIL_ALLOWED_SENDERS: `${base.MAIL_ALLOWED_SENDERS},ghost@contoso.example`,
      };
      const report = await runChecks(deps(settings));
      assert.equal(byId(report, `smtp:${LOCAL_SENDER}`).status, 'pass');
      const ghost = byId(report, 'smtp:ghost@contoso.example');
      assert.equal(ghost.status, 'fail');
      assert.match(ghost.details![0], /^535 5\.7\.3/);
      assert.match(ghost.fix!, /for ghost@contoso\.example.*Register-ExchangeSender\.ps1/);
      assert.equal(report.ok, false);
    } finally {
      await sink.stop();
    }
  });

  test('incomplete settings are listed, and what depends on them is not checked', async () => {
    const report = await runChecks(deps({ MAIL_ALLOWED_SENDERS: 'not-a-mailbox' }));
    assert.equal(report.ok, false);
    const settings = byId(report, 'settings');
    assert.equal(settings.status, 'fail');
    assert.ok(settings.details!.some((line) => line.startsWith('MAIL_AUTH_MODE:')));
    assert.ok(settings.details!.some((line) => line.startsWith('MailStorage:')));
    assert.deepEqual(
      report.checks.slice(2).map((c) => c.status),
      ['skip', 'skip', 'skip'],
    );
  });

  test('an unresolved Key Vault reference fails its own check, without quoting it', async () => {
    const reference = '@Microsoft.KeyVault(SecretUri=https://kv-mail.vault.azure.net/secrets/mail-client-credential/)';
    const report = await runChecks(deps({ ...stack.settings('clientSecret'), MAIL_CLIENT_SECRET: reference }));
    assert.equal(byId(report, 'settings').status, 'pass');
    const keyVault = byId(report, 'keyvault');
    assert.equal(keyVault.status, 'fail');
    assert.match(keyVault.details![0], /^MAIL_CLIENT_SECRET: the Key Vault reference was not resolved/);
    assert.match(keyVault.fix!, /Key Vault Secrets User/);
    assert.ok(!formatText(report).includes('kv-mail.vault'));
  });

  test('a token for another resource than Exchange fails the token check, naming MAIL_TOKEN_SCOPE', async () => {
    const report = await runChecks(deps({ ...stack.settings('clientSecret'), MAIL_TOKEN_SCOPE: 'https://graph.microsoft.com/.default' }));
    const token = byId(report, 'token');
    assert.equal(token.status, 'fail');
    assert.match(token.title, /not a token for Exchange Online/);
    assert.match(token.fix!, /MAIL_TOKEN_SCOPE/);
  });

  test('npm run doctor: exit code 0 and JSON when all pass, 1 and a checklist naming the fix when not', async () => {
    const settingsFile = join(scratch, 'local.settings.json');
    const run = (values: Record<string, string>, args: string[]) => {
      writeFileSync(settingsFile, JSON.stringify({ IsEncrypted: false, Values: values }));
      // The app's settings come from the file only: none of the test process's MAIL_* or storage variables.
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(MAIL_|MailStorage)/.test(name)));
      return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [MAIN, '--settings', settingsFile, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    };
    const good = await run(stack.settings('clientSecret'), ['--json']);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    const parsed = JSON.parse(good.stdout) as DoctorReport & { source: string };
    assert.equal(parsed.ok, true);
    assert.match(parsed.source, /local\.settings\.json \(Values\) and the environment/);
    assert.ok(!good.stdout.includes(stack.clientSecret));
    assert.doesNotMatch(good.stdout, JWT);

    const wrong = `wrong-${Math.random().toString(36).slice(2)}`;
    const bad = await run({ ...stack.settings('clientSecret'), MAIL_CLIENT_SECRET: wrong }, []);
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /^✗ Access token \(profile default, clientSecret\)[^\n]*not issued$/m);
    assert.match(bad.stdout, /^ {4}→ The client secret is wrong: MAIL_CLIENT_SECRET/m);
    assert.match(bad.stdout, /checks failed/);
    assert.ok(!bad.stdout.includes(wrong) && !bad.stderr.includes(wrong));
  });

  // Last: it stops the stack's storage.
  test('storage stopped: each storage check fails within its time limit and says what to check; the rest pass', async () => {
    await stack.azurite.stop();
    const started = Date.now();
    const report = await runChecks(deps(stack.settings('clientSecret')));
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    assert.equal(report.ok, false);
    assert.equal(byId(report, 'token').status, 'pass');
    assert.equal(byId(report, `smtp:${LOCAL_SENDER}`).status, 'pass');
    const storage = report.checks.filter((c) => c.id.startsWith('storage:'));
    assert.equal(storage.length, 5);
    for (const check of storage) {
      assert.equal(check.status, 'fail', check.title);
      assert.match(check.details![0], /ECONNREFUSED/);
      assert.match(check.fix!, /MailStorage.*Azurite/);
    }
  });
});
