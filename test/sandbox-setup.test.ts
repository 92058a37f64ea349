// Setting up the sandbox (npm start): a setup mistake stops the start naming the setting, the printed request says
// where mail goes, the doctor served by the sandbox agrees with what the sandbox does, and no other web page can use it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ConfigError, loadConfig } from '../src/config/load-config';
import { readLocalSettings } from '../src/config/local-settings';
import { startSandbox, type Sandbox } from '../sandbox/start-sandbox';
import { startBanner } from '../sandbox/banner';
import { FAST_SERVICES } from './support/harness';

const ROOT = join(__dirname, '..', '..');
const sandboxes: Sandbox[] = [];
after(async () => {
  await Promise.all(sandboxes.map((s) => s.close()));
});
const logs: string[] = [];
const log = (level: string, fn: string, message: string) => void logs.push(`${level} ${fn}: ${message}`);

test('local.settings.example.json copied unchanged stops the start, naming each placeholder setting', { timeout: 60_000 }, async () => {
  const example = readLocalSettings(join(ROOT, 'local.settings.example.json'));
  // As the sandbox takes it: MAIL_SMTP_HOST is set there, so these are the settings of a real tenant.
  const failure = await startSandbox({ port: 0, env: example, log }).then(
    (started) => {
      sandboxes.push(started);
      return undefined;
    },
    (error: unknown) => error,
  );
  assert.ok(failure instanceof ConfigError, `the start is refused: ${String(failure)}`);
  const named = failure.problems.map((p) => p.split(':')[0]);
  for (const name of ['MAIL_TENANT_ID', 'MAIL_CLIENT_ID', 'MAIL_CLIENT_SECRET'])
    assert.ok(named.includes(name), `${name} in ${failure.message}`);
});

test('the printed request: a sandbox mail in the sandbox; with a real tenant, a real mail to the own mailbox and no word of a sandbox', () => {
  const real = loadConfig({
    MAIL_SMTP_HOST: 'smtp.office365.com',
    MAIL_AUTH_MODE: 'clientSecret',
    MAIL_TENANT_ID: 'contoso.onmicrosoft.com',
    MAIL_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
    MAIL_CLIENT_SECRET: 'not-a-real-secret',
    MAIL_ALLOWED_SENDERS: '@contoso.com, noreply@contoso.com',
    MAIL_DEFAULT_SENDER: 'noreply@contoso.com',
    MailStorage: 'UseDevelopmentStorage=true',
  });
  const banner = startBanner({ url: 'http://localhost:7071', embedded: false, config: real });
  assert.doesNotMatch(banner, /sandbox/i);
  assert.match(banner, /real mail through smtp\.office365\.com:587/);
  assert.match(banner, /"to":"noreply@contoso\.com"/);
  assert.ok(!banner.includes('not-a-real-secret'));

  const local = startBanner({
    url: 'http://localhost:7071',
    embedded: true,
    config: { ...real, smtp: { ...real.smtp, host: '127.0.0.1' } },
    mailDir: '.local/mailbox',
    callbackUrl: 'https://localhost:1234/sandbox',
    imap: 'localhost:1993',
  });
  assert.match(local, /local sandbox/);
  assert.match(local, /IMAP: +localhost:1993 /);
  assert.match(local, /reject@, defer@, auth-fail@, bounce@ or delay@/);
  assert.match(local, /"subject":"Hello from the sandbox"/);
  assert.match(local, /"callbackUrl":"https:\/\/localhost:1234\/sandbox"/);
});

test(
  "the sandbox's doctor answers 200 with every check passed, and a mail the same sandbox takes is sent",
  { timeout: 90_000 },
  async () => {
    const sandbox = await startSandbox({ port: 0, env: {}, runtime: FAST_SERVICES, log });
    sandboxes.push(sandbox);
    const doctor = await fetch(`${sandbox.url}/api/diagnostics/doctor`);
    const report = (await doctor.json()) as { ok: boolean; checks: Array<{ id: string; status: string; title: string }> };
    assert.equal(doctor.status, 200, JSON.stringify(report, null, 2));
    assert.equal(report.ok, true);
    const passed = (prefix: string) => report.checks.some((c) => c.id.startsWith(prefix) && c.status === 'pass');
    for (const prefix of ['settings', 'token', 'smtp', 'storage:queue', 'storage:table'])
      assert.ok(passed(prefix), `${prefix}: ${JSON.stringify(report.checks)}`);

    const accepted = await fetch(`${sandbox.url}/api/mail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'doctor@example.com', subject: 'doctor agrees', text: 'x' }),
    });
    assert.equal(accepted.status, 202);
    const { id } = (await accepted.json()) as { id: string };
    let status = '';
    for (const deadline = Date.now() + 30_000; status !== 'sent' && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      status = ((await (await fetch(`${sandbox.url}/api/mail/${id}`)).json()) as { status: string }).status;
    }
    assert.equal(status, 'sent', logs.join('\n'));

    // A bounce@ recipient: sent, then its report lands in the sending mailbox and the sandbox reads it over IMAP.
    const bouncing = await fetch(`${sandbox.url}/api/mail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'bounce@example.com', subject: 'will bounce', text: 'x' }),
    });
    const bounceId = ((await bouncing.json()) as { id: string }).id;
    let bounced = '';
    for (
      const deadline = Date.now() + 30_000;
      bounced !== 'bounced' && Date.now() < deadline;
      await new Promise((r) => setTimeout(r, 200))
    ) {
      const answer = (await (await fetch(`${sandbox.url}/api/mail/${bounceId}`)).json()) as { status?: string; mail?: { status: string } };
      bounced = answer.mail?.status ?? answer.status ?? '';
    }
    assert.equal(bounced, 'bounced', logs.join('\n'));
  },
);

/** A raw request with the headers a page using DNS rebinding (Host) or posting across sites (Origin) makes a browser send. */
function raw(
  url: string,
  options: { method?: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        host: '127.0.0.1',
        port: target.port,
        path: target.pathname + target.search,
        method: options.method ?? 'GET',
        headers: options.headers,
        setHost: false,
        servername: 'localhost',
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

test(
  'requests to the sandbox by a name other than its loopback one, or from another site, are refused and send nothing',
  { timeout: 90_000 },
  async () => {
    // clientSecret: the managed identity credential keeps the endpoint it first saw for the whole process (the test above's).
    const sandbox = await startSandbox({ port: 0, env: { MAIL_AUTH_MODE: 'clientSecret' }, runtime: FAST_SERVICES, log });
    sandboxes.push(sandbox);
    const { port } = new URL(sandbox.url);
    const mail = (subject: string) => JSON.stringify({ to: 'rebind@example.com', subject, text: 'x' });
    const json = (body: string) => ({ 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });

    const rebound = await raw(`${sandbox.url}/api/mail`, {
      method: 'POST',
      headers: { Host: `evil.example:${port}`, ...json(mail('rebound')) },
      body: mail('rebound'),
    });
    assert.equal(rebound.status, 421, rebound.text);
    assert.match(rebound.text, /DNS rebinding/);
    for (const path of ['/', '/api/openapi.json', '/api/mail/some-id']) {
      assert.equal((await raw(`${sandbox.url}${path}`, { headers: { Host: `evil.example:${port}` } })).status, 421, path);
    }
    const crossSite = await raw(`${sandbox.url}/api/mail`, {
      method: 'POST',
      headers: { Host: `localhost:${port}`, Origin: 'http://evil.example', ...json(mail('cross-site')) },
      body: mail('cross-site'),
    });
    assert.equal(crossSite.status, 403, crossSite.text);
    // Another port on loopback is another site too.
    const otherPort = await raw(`${sandbox.url}/api/mail`, {
      method: 'POST',
      headers: { Host: `localhost:${port}`, Origin: 'http://localhost:1', ...json(mail('other port')) },
      body: mail('other port'),
    });
    assert.equal(otherPort.status, 403);

    // The stack's own servers, which a page could find on loopback as well.
    const identity = new URL(sandbox.stack!.managedIdentity.env.IDENTITY_ENDPOINT);
    assert.equal((await raw(identity.href, { headers: { Host: `evil.example:${identity.port}` } })).status, 421);
    const receiver = new URL(sandbox.stack!.callbacks.url);
    const callback = await raw(`${receiver.href}sandbox`, {
      method: 'POST',
      headers: { Host: receiver.host, Origin: 'http://evil.example' },
      body: '{}',
    });
    assert.equal(callback.status, 403);
    assert.equal(sandbox.stack!.callbacks.received.length, 0);

    // The sandbox's own address, as the printed curl and the inbox page use it, still works; and only that mail is sent.
    const accepted = await fetch(`${sandbox.url}/api/mail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: sandbox.url },
      body: mail('own'),
    });
    assert.equal(accepted.status, 202);
    const { id } = (await accepted.json()) as { id: string };
    let status = '';
    for (const deadline = Date.now() + 30_000; status !== 'sent' && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      status = ((await (await fetch(`${sandbox.url}/api/mail/${id}`)).json()) as { status: string }).status;
    }
    assert.equal(status, 'sent', logs.join('\n'));
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200, 'the inbox page by 127.0.0.1 too');
    const queue = sandbox.runtime.storage.queues.getQueueClient(sandbox.config.queueName);
    assert.equal((await queue.getProperties()).approximateMessagesCount, 0, 'nothing else queued');
    assert.deepEqual(
      sandbox.stack!.smtp.messages.map((m) => m.raw.toString().match(/^Subject: (.*)$/m)?.[1]),
      ['own'],
    );
  },
);
