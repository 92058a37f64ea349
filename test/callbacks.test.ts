// Callbacks through the real parts: a mail request names a callbackUrl at the local https receiver (local CA,
// loopback), the worker sends through the Exchange-like SMTP server, and the callback queue's function POSTs the
// signed CloudEvent. The receiver checks the signature as a real one must; the test checks it again by hand.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HTTP, type CloudEvent } from 'cloudevents';
import { freePort, startHarness, type Harness } from './support/harness';
import { statusView, statusViewSchema } from '../src/status/status-view';
import type { StatusRecord } from '../src/status/status-store';
import { callbackUrlPolicyProblem, isAllowedCallbackHost, isPrivateAddress } from '../src/mail/callback-url';
import { postCallback } from '../src/callbacks/post-callback';
import { applySenderPolicy, functionKeyCaller } from '../src/callers/sender-policy';
import { decodeCallbackMessage } from '../src/callbacks/callback-queue';
import { createReportFollowUp } from '../src/bounces/report-follow-up';
import { deliveryReported } from '../src/status/transitions';
import { attemptCallback } from '../src/callbacks/callback-attempt';
import { ConfigError, loadConfig } from '../src/config/load-config';
import type { Logger } from '../src/logger';
import { ensureLocalCertificates } from '../sandbox/certs';
import { APP_ROOT } from '../src/app-root';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { callbackSecretFor } from '../src/callbacks/callback-secret';
import { createMailProducer } from '../src/integrations/producer';

const MAX_ATTEMPTS = 3;
let h: Harness;

before(async () => {
  h = await startHarness({
    settings: { MAIL_CALLBACK_MAX_ATTEMPTS: String(MAX_ATTEMPTS) },
    runtime: { callbackBackoffMs: (attempt) => 150 * 2 ** (attempt - 1) },
  });
});

after(async () => {
  await h?.close();
});

const BODY = 'The body of the mail never leaves it.';
const mail = (extra: Record<string, unknown> = {}) => ({ to: 'ann@example.com', subject: 'Callback subject', text: BODY, ...extra });

async function waitForCallbackState(id: string, state: string, timeoutMs = 10_000): Promise<StatusRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stored = await h.runtime.status.get(id);
    if (stored?.record.callback?.state === state) return stored.record;
    if (Date.now() > deadline)
      throw new Error(`callback of ${id} not ${state}: ${JSON.stringify(stored?.record.callback)}\n${h.logs.slice(-8).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Signed = { webhookId: string; webhookTimestamp: string; webhookSignature: string; body: string };

/**
 * A caller's secret as docs/api.md tells receivers it is made, written out here rather than taken from the product:
 * whsec_ + base64 of HMAC-SHA256 keyed with the master's bytes over the label and the caller's principal.
 */
const secretOf = (master: string, principal: string) =>
  `whsec_${createHmac('sha256', Buffer.from(master.replace(/^whsec_/, ''), 'base64'))
    .update(`exo-smtp-mailer callback signing secret\n${principal}`)
    .digest('base64')}`;

/** Standard Webhooks, checked here from the specification rather than with the product's own verifier. */
function signedWith(callback: Signed, secret: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${callback.webhookId}.${callback.webhookTimestamp}.${callback.body}`).digest('base64');
  return callback.webhookSignature.split(' ').includes(`v1,${expected}`);
}

function assertSigned(callback: Signed, principal = 'function-key') {
  assert.ok(
    signedWith(callback, secretOf(h.stack.callbacks.secret, principal)),
    `webhook-signature is v1,<base64 HMAC-SHA256 of id.timestamp.body> with the secret of ${principal}`,
  );
  assert.ok(!signedWith(callback, h.stack.callbacks.secret), 'never signed with the master secret itself');
  assert.ok(Math.abs(Date.now() / 1000 - Number(callback.webhookTimestamp)) < 60, 'webhook-timestamp is now, in Unix seconds');
}

test('a sent mail: the callback arrives once, signed, as a CloudEvent with the public status view', async () => {
  const accepted = await h.post(mail({ callbackUrl: `${h.stack.callbacks.url}/hooks/mail?tenant=a` }));
  assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
  const id = accepted.json.id as string;
  assert.equal(accepted.json.callbackUrl, undefined, 'the status view does not echo the URL');
  const final = await h.waitForFinal(id);
  assert.equal(final.status, 'sent');
  const callback = await h.stack.callbacks.waitFor((c) => c.webhookId === `${id}.sent`);
  assert.equal(callback.verified, true, callback.detail);
  assert.equal(callback.answered, 204);
  assert.equal(callback.path, '/hooks/mail?tenant=a');
  assert.equal(callback.contentType, 'application/cloudevents+json');
  assertSigned(callback);
  const event = JSON.parse(callback.body) as Record<string, any>;
  // The CloudEvents SDK reads the request as it came, structured mode, as a valid CloudEvent 1.0.
  const read = HTTP.toEvent({ headers: { 'content-type': callback.contentType }, body: callback.body });
  assert.ok(!Array.isArray(read), 'one event');
  const readEvent = read as CloudEvent<unknown>;
  assert.equal(readEvent.validate(), true);
  assert.equal(readEvent.id, `${id}.sent`);
  assert.equal(readEvent.type, 'exo-smtp-mailer.mail.sent');
  assert.equal(event.specversion, '1.0');
  assert.equal(event.id, `${id}.sent`);
  assert.equal(event.type, 'exo-smtp-mailer.mail.sent');
  assert.equal(event.subject, id);
  assert.equal(event.source, `${h.config.publicBaseUrl}/api/mail`);
  assert.equal(event.datacontenttype, 'application/json');
  assert.ok(!Number.isNaN(Date.parse(event.time)));
  assert.equal(event.data.id, id);
  assert.equal(event.data.status, 'sent');
  assert.deepEqual(event.data.accepted, ['ann@example.com']);
  assert.ok(statusViewSchema.safeParse(event.data).success, 'data is the status view GET /api/mail/{id} describes');
  // Nothing that is not the caller's to see: no secret, no token, no subject or body, not even the URL itself.
  for (const leak of [
    h.stack.callbacks.secret,
    secretOf(h.stack.callbacks.secret, 'function-key'),
    h.stack.clientSecret,
    'callbackUrl',
    'Bearer',
    'Callback subject',
    BODY,
  ]) {
    assert.ok(!callback.body.includes(leak), `the event must not contain ${leak}`);
  }
  const record = await waitForCallbackState(id, 'delivered');
  assert.equal(record.callback?.attempts, 1);
  assert.equal(statusView(record).callback?.state, 'delivered', 'GET /api/mail/{id} shows how the callback went');
  assert.equal(h.stack.callbacks.received.filter((c) => c.webhookId === `${id}.sent`).length, 1);
});

test('after the sent event, a report: one bounced and one delayed event, each signed with its own id; the sent event is not posted again', async () => {
  const accepted = await h.post(mail({ to: ['gone@example.com', 'slow@example.com'], callbackUrl: `${h.stack.callbacks.url}/reports` }));
  assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
  const id = accepted.json.id as string;
  await h.waitForFinal(id);
  await waitForCallbackState(id, 'delivered');
  // What the delivery report reader records and then hands to its follow-up (the IMAP path is tested against Dovecot).
  const reportedAt = new Date().toISOString();
  const added = [
    {
      recipient: 'gone@example.com',
      outcome: 'bounced' as const,
      status: '5.1.1',
      diagnosticCode: 'smtp; 550 5.1.1 User unknown',
      reportedAt,
    },
    { recipient: 'slow@example.com', outcome: 'delayed' as const, status: '4.4.7', reportedAt },
  ];
  const stored = (await h.runtime.status.get(id))!;
  const updated = await h.runtime.status.update(stored, deliveryReported(stored.record, '<ndr-1@example.com>', added), new Date());
  await createReportFollowUp({ callbacks: h.runtime.callbacks.queue, suppressions: h.runtime.suppressions })([
    { result: 'recorded', reportId: '<ndr-1@example.com>', record: updated.record, newOutcomes: added },
  ]);
  for (const outcome of ['bounced', 'delayed']) {
    const eventId = `${id}.${outcome}.${Date.parse(reportedAt)}`;
    const callback = await h.stack.callbacks.waitFor((c) => c.webhookId === eventId);
    assert.equal(callback.verified, true, callback.detail);
    assertSigned(callback);
    const event = JSON.parse(callback.body) as Record<string, any>;
    assert.equal(event.type, `exo-smtp-mailer.mail.${outcome}`);
    assert.equal(event.id, eventId);
    assert.equal(event.time, reportedAt);
    assert.ok(statusViewSchema.safeParse(event.data).success, 'data is the status view GET /api/mail/{id} describes');
    assert.deepEqual(
      (event.data.recipientOutcomes as { recipient: string; outcome: string }[]).map((o) => [o.recipient, o.outcome]),
      [
        ['gone@example.com', 'bounced'],
        ['slow@example.com', 'delayed'],
      ],
    );
  }
  // The record's callback state follows the latest event, and GET /api/mail/{id} names which.
  const reportEvents = ['bounced', 'delayed'].map((outcome) => `${id}.${outcome}.${Date.parse(reportedAt)}`);
  const deadline = Date.now() + 10_000;
  let record = (await h.runtime.status.get(id))!.record;
  while (record.callback?.state !== 'delivered' || !reportEvents.includes(record.callback.event ?? '')) {
    if (Date.now() > deadline) throw new Error(`callback state ${JSON.stringify(record.callback)}`);
    await new Promise((r) => setTimeout(r, 50));
    record = (await h.runtime.status.get(id))!.record;
  }
  assert.ok(reportEvents.includes(statusView(record).callback?.event ?? ''));
  assert.equal(h.stack.callbacks.received.filter((c) => c.webhookId === `${id}.sent`).length, 1, 'the sent event once');
});

test("a producer's large mail (a composed blob, no intake) names its callbackUrl in the envelope: recorded and posted", async () => {
  const producer = createMailProducer({
    queue: h.runtime.storage.queues.getQueueClient(h.config.queueName),
    payloads: h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer),
  });
  const { id, payloadBlob } = await producer.send({
    ...mail({ callbackUrl: `${h.stack.callbacks.url}/producer` }),
    from: 'noreply@contoso.example',
    attachments: [{ filename: 'big.bin', content: Buffer.alloc(100 * 1024, 5).toString('base64') }],
  });
  assert.equal(payloadBlob, `${id}.eml`);
  assert.equal((await h.waitForFinal(id)).status, 'sent');
  const callback = await h.stack.callbacks.waitFor((c) => c.webhookId === `${id}.sent`);
  assert.equal(callback.verified, true, callback.detail);
  assertSigned(callback, 'queue:producer');
  assert.equal(callback.verifiedAs, 'queue:producer', "a producer's callbacks carry the producers' secret");
  assert.equal(callback.path, '/producer');
  assert.equal((await waitForCallbackState(id, 'delivered')).callback?.attempts, 1);
});

test('a failed mail: the callback says failed, with the error category', async () => {
  h.stack.smtp.inject({
    stage: 'data',
    reply: '554 5.2.252 SendAsDenied; not allowed to send as this sender',
    when: (c) => c.recipients.includes('denied-callback@example.com'),
  });
  const accepted = await h.post(mail({ to: 'denied-callback@example.com', callbackUrl: `${h.stack.callbacks.url}/failed` }));
  assert.equal(accepted.status, 202);
  const id = accepted.json.id as string;
  assert.equal((await h.waitForFinal(id)).status, 'failed');
  const callback = await h.stack.callbacks.waitFor((c) => c.webhookId === `${id}.failed`);
  assert.equal(callback.verified, true);
  assertSigned(callback);
  const event = JSON.parse(callback.body) as Record<string, any>;
  assert.equal(event.type, 'exo-smtp-mailer.mail.failed');
  assert.equal(event.subject, id);
  assert.equal(event.data.status, 'failed');
  assert.equal(event.data.error.category, 'send-as-denied');
  assert.equal(event.data.lastReply.code, 554);
  await waitForCallbackState(id, 'delivered');
});

test('the receiver fails first: the callback is retried after a delay, with the same event id, and then delivered', async () => {
  h.stack.callbacks.failNext(1, 500);
  const accepted = await h.post(mail({ callbackUrl: `${h.stack.callbacks.url}/retry` }));
  const id = accepted.json.id as string;
  await h.waitForFinal(id);
  const delivered = await h.stack.callbacks.waitFor((c) => c.webhookId === `${id}.sent` && c.answered === 204);
  const attempts = h.stack.callbacks.received.filter((c) => c.webhookId === `${id}.sent`);
  assert.deepEqual(
    attempts.map((c) => c.answered),
    [500, 204],
  );
  assert.ok(Date.parse(delivered.receivedAt) - Date.parse(attempts[0].receivedAt) >= 1000, 'retried after the queue delay (whole seconds)');
  assert.equal(JSON.parse(attempts[0].body).id, JSON.parse(delivered.body).id, 'the event id is stable across attempts');
  for (const attempt of attempts) assertSigned(attempt);
  const record = await waitForCallbackState(id, 'delivered');
  assert.equal(record.callback?.attempts, 2);
  assert.ok(h.logs.some((l) => l.includes(`Callback attempt 1 of ${MAX_ATTEMPTS} failed for message ${id}: http-500 (HTTP 500)`)));
});

test('a receiver that keeps failing: given up after the last attempt, logged as an error and recorded', async () => {
  h.stack.callbacks.failNext(MAX_ATTEMPTS, 503);
  const accepted = await h.post(mail({ callbackUrl: `${h.stack.callbacks.url}/down` }));
  const id = accepted.json.id as string;
  assert.equal((await h.waitForFinal(id)).status, 'sent', 'the callback never changes the outcome of the mail');
  const record = await waitForCallbackState(id, 'failed', 15_000);
  assert.equal(record.callback?.attempts, MAX_ATTEMPTS);
  assert.equal(record.callback?.lastError, 'http-503');
  assert.equal(h.stack.callbacks.received.filter((c) => c.webhookId === `${id}.sent`).length, MAX_ATTEMPTS);
  assert.ok(
    h.logs.some((l) => l.startsWith('error deliverCallback:') && l.includes(`Callback given up: message ${id}`) && l.includes('HTTP 503')),
  );
  assert.deepEqual(statusView(record).callback, record.callback);
});

test('a failure to queue the callback is logged and the mail is still sent', async () => {
  const worker = h.runtime.worker;
  const original = worker.callbacks;
  worker.callbacks = { notify: () => Promise.reject(new Error('queue unavailable')) };
  try {
    const accepted = await h.post(mail({ callbackUrl: `${h.stack.callbacks.url}/lost` }));
    const id = accepted.json.id as string;
    assert.equal((await h.waitForFinal(id)).status, 'sent');
    await h.waitForLog(`Callback not queued for message ${id}`);
    assert.ok(h.logs.some((l) => l.includes(`Callback not queued for message ${id}: queue unavailable`)));
  } finally {
    worker.callbacks = original;
  }
});

test('hostile callbackUrl values are refused with 400 naming callbackUrl, and nothing is recorded or queued', async () => {
  const url = h.stack.callbacks.url;
  const cases: [string, RegExp][] = [
    [`http://localhost:${new URL(url).port}/x`, /https/],
    ['https://10.0.0.5/x', /private/],
    ['https://127.0.0.1/x', /private/],
    ['https://169.254.169.254/latest/meta-data', /private/],
    ['https://[fe80::1]/x', /private/],
    ['https://[::ffff:127.0.0.1]/x', /private/],
    ['https://[fd00::1]/x', /private/],
    ['https://100.64.0.1/x', /private/],
    ['https://2130706433/x', /private/],
    ['https://evil.example.com/x', /not a host callbacks may go to \(MAIL_CALLBACK_HOSTS\)/],
    ['https://localhost.evil.example/x', /not a host/],
    [`https://user:pass@localhost:${new URL(url).port}/x`, /user name or password/],
    [`${url}/${'a'.repeat(2100)}`, /at most 2048/],
    ['not a url', /absolute URL/],
    ['https://8.8.8.8/x', /IP address/],
  ];
  const table = h.runtime.status.table;
  const count = async () => {
    let n = 0;
    for await (const _ of table.listEntities()) n++;
    return n;
  };
  const before = await count();
  const messagesBefore = h.stack.smtp.messages.length;
  for (const [callbackUrl, detail] of cases) {
    const response = await h.post(mail({ callbackUrl }));
    assert.equal(response.status, 400, `${callbackUrl.slice(0, 80)}: ${JSON.stringify(response.json)}`);
    const errors = response.json.errors as { field: string; detail: string }[];
    assert.deepEqual(
      errors.map((e) => e.field),
      ['callbackUrl'],
      callbackUrl.slice(0, 80),
    );
    assert.match(errors[0].detail, detail, callbackUrl.slice(0, 80));
  }
  assert.equal(await count(), before, 'no status record for a refused request');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(h.stack.smtp.messages.length, messagesBefore, 'nothing sent');
});

test('without MAIL_CALLBACK_HOSTS a callbackUrl is refused, naming the field and the setting', () => {
  const caller = functionKeyCaller({ allowedSenders: ['noreply@contoso.example'], defaultSender: 'noreply@contoso.example' });
  const decision = applySenderPolicy({ to: 'a@example.com', subject: 's', text: 't', callbackUrl: 'https://hooks.example.com/x' }, caller, {
    allowedSenders: ['noreply@contoso.example'],
    defaultSender: 'noreply@contoso.example',
  });
  assert.equal(decision.ok, false);
  assert.ok(!decision.ok && decision.status === 400);
  assert.ok(!decision.ok && decision.errors[0].field === 'callbackUrl' && /MAIL_CALLBACK_HOSTS/.test(decision.errors[0].detail));
});

test('the allow-list: exact hosts and *.domain below it, never the apex or a look-alike', () => {
  const allowed = ['hooks.contoso.com', '*.fabrikam.com'];
  assert.ok(isAllowedCallbackHost('hooks.contoso.com', allowed));
  assert.ok(isAllowedCallbackHost('HOOKS.contoso.com.', allowed));
  assert.ok(isAllowedCallbackHost('a.b.fabrikam.com', allowed));
  assert.ok(!isAllowedCallbackHost('fabrikam.com', allowed));
  assert.ok(!isAllowedCallbackHost('evilfabrikam.com', allowed));
  assert.ok(!isAllowedCallbackHost('hooks.contoso.com.evil.net', allowed));
  assert.equal(callbackUrlPolicyProblem('https://a.fabrikam.com/x', allowed), undefined);
  for (const address of [
    '10.1.2.3',
    '172.31.0.1',
    '192.168.1.1',
    '127.0.0.1',
    '169.254.169.254',
    '100.127.0.1',
    '0.0.0.0',
    '::1',
    'fe80::1',
    'fc00::1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '64:ff9b::a00:1',
    '::',
  ]) {
    assert.ok(isPrivateAddress(address), address);
  }
  for (const address of ['8.8.8.8', '20.190.128.1', '2606:4700::1111']) assert.ok(!isPrivateAddress(address), address);
});

test('the callback queue message is validated like any queue input', () => {
  assert.equal(decodeCallbackMessage({ version: 1, id: 'a', outcome: 'sent', occurredAt: new Date().toISOString(), attempt: 1 }).ok, true);
  for (const bad of [
    'not json',
    { version: 1, id: '../x', outcome: 'sent', occurredAt: new Date().toISOString(), attempt: 1 },
    { version: 1, id: 'a', outcome: 'queued', occurredAt: new Date().toISOString(), attempt: 1 },
    { version: 1, id: 'a', outcome: 'sent', occurredAt: new Date().toISOString(), attempt: 1, url: 'https://evil.example' },
    { version: 1, id: 'a', outcome: 'sent', occurredAt: new Date().toISOString(), attempt: 0 },
  ]) {
    assert.equal(decodeCallbackMessage(bad).ok, false, JSON.stringify(bad));
  }
});

test('a message on the callback queue naming an id without a callbackUrl posts nothing', async () => {
  const accepted = await h.post(mail());
  const id = accepted.json.id as string;
  await h.waitForFinal(id);
  const received = h.stack.callbacks.received.length;
  await h.runtime.callbacks.queue.retry({ version: 1, id, outcome: 'sent', occurredAt: new Date().toISOString(), attempt: 0 }, 0);
  await h.waitForLog(`Callback given up: message ${id}: no sent record with a callbackUrl`);
  assert.ok(h.logs.some((l) => l.includes(`Callback given up: message ${id}: no sent record with a callbackUrl`)));
  assert.equal(h.stack.callbacks.received.length, received);
});

test('a host that resolves to a private address is refused when the callback is sent (as in Azure); the caller sees a category, the operator the address', async () => {
  // The same local parts, but without the sandbox's dev-only MAIL_CALLBACK_PRIVATE_HOSTS: localhost is allowed as a
  // host, yet it resolves to loopback, so the connection is refused before it is made.
  const azureLike = await startHarness({ settings: { MAIL_CALLBACK_PRIVATE_HOSTS: '' } });
  try {
    const accepted = await azureLike.post(mail({ callbackUrl: `${azureLike.stack.callbacks.url}/rebound` }));
    assert.equal(accepted.status, 202, 'a host name passes intake; its addresses are checked when connecting');
    const id = accepted.json.id as string;
    await azureLike.waitForFinal(id);
    const deadline = Date.now() + 10_000;
    let record: StatusRecord | undefined;
    while (Date.now() < deadline) {
      record = (await azureLike.runtime.status.get(id))?.record;
      if (record?.callback) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(record?.callback?.lastError, 'refused-address');
    // What the caller reads through GET /api/mail/{id}: no address, no resolver words, no port.
    const response = await fetch(`${azureLike.host!.url}/api/mail/${id}`);
    const view = await response.text();
    assert.equal((JSON.parse(view) as { callback: { lastError: string } }).callback.lastError, 'refused-address');
    for (const leak of ['127.0.0.1', '::1', 'resolves', 'ECALLBACKADDRESS', `:${new URL(azureLike.stack.callbacks.url).port}`])
      assert.ok(!view.includes(leak), `the status view must not show ${leak}: ${view}`);
    await azureLike.waitForLog(`Callback attempt 1 of`);
    assert.ok(
      azureLike.logs.some((l) =>
        /failed for message .*: refused-address \(ECALLBACKADDRESS: localhost resolves to (127\.0\.0\.1|::1), a private/.test(l),
      ),
      'the operator log keeps the detail',
    );
    assert.equal(azureLike.stack.callbacks.received.length, 0, 'nothing reached the receiver');
  } finally {
    await azureLike.close();
  }
});

test('one POST: redirects are not followed, the body is not read, and a silent receiver times out', async () => {
  const tls = await ensureLocalCertificates(join(APP_ROOT, '.local', 'certs'));
  let hits = 0;
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    hits++;
    if (req.url === '/redirect') res.writeHead(307, { Location: 'https://169.254.169.254/' }).end();
    else if (req.url === '/huge') {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      pump();
      res.on('close', () => res.off('drain', pump));
    } // '/silent' never answers
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://localhost:${(server.address() as AddressInfo).port}`;
  const options = { timeoutMs: 500, privateHosts: ['localhost'] };
  try {
    const redirect = await postCallback(`${base}/redirect`, Buffer.from('{}'), {}, options);
    assert.deepEqual(redirect, { ok: false, status: 307, category: 'http-307', detail: 'HTTP 307: redirects are not followed' });
    assert.equal(hits, 1);
    assert.deepEqual(await postCallback(`${base}/huge`, Buffer.from('{}'), {}, options), { ok: true, status: 200 });
    const started = Date.now();
    const silent = await postCallback(`${base}/silent`, Buffer.from('{}'), {}, options);
    assert.equal(!silent.ok && silent.category, 'timeout');
    assert.match(!silent.ok ? silent.detail : '', /no answer within 500 ms/);
    assert.ok(Date.now() - started < 2_000);
    const refused = await postCallback(`${base}/x`, Buffer.from('{}'), {}, { timeoutMs: 500, privateHosts: [] });
    assert.equal(!refused.ok && refused.category, 'refused-address');
    assert.match(!refused.ok ? refused.detail : '', /ECALLBACKADDRESS/);
    const missing = await postCallback('https://no-such-host.invalid/x', Buffer.from('{}'), {}, options);
    assert.equal(!missing.ok && missing.category, 'refused-address', 'a name that does not resolve looks like one that resolves inside');
    const closedPort = await freePort();
    const closed = await postCallback(`https://localhost:${closedPort}/x`, Buffer.from('{}'), {}, options);
    assert.equal(!closed.ok && closed.category, 'connection-failed');
    assert.match(!closed.ok ? closed.detail : '', /ECONNREFUSED/);
    // A plain-HTTP listener where https is expected: the TLS handshake fails.
    const plain = createHttpServer((_req, res) => res.end('plain'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const port = (plain.address() as AddressInfo).port;
      const tlsFailure = await postCallback(`https://localhost:${port}/x`, Buffer.from('{}'), {}, options);
      assert.equal(!tlsFailure.ok && tlsFailure.category, 'tls', !tlsFailure.ok ? tlsFailure.detail : '');
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('a record that still holds a raw connection error shows only its category', () => {
  const record = { id: 'legacy', status: 'sent', attempts: 1, createdAt: '', updatedAt: '', sender: 's', recipientCount: 1 } as const;
  const view = (lastError: string) => statusView({ ...record, callback: { state: 'failed', attempts: 3, lastError } }).callback?.lastError;
  assert.equal(view('ECONNREFUSED: connect ECONNREFUSED 10.0.0.5:8443'), 'connection-failed');
  assert.equal(view('HTTP 503'), 'http-503');
  assert.equal(view('timeout'), 'timeout');
});

test('rotation: with two master secrets each callback carries a signature with either secret of its caller, and none another caller verifies', async () => {
  const next = `whsec_${randomBytes(32).toString('base64')}`;
  const id = `rotation-${randomBytes(4).toString('hex')}`;
  const now = new Date().toISOString();
  await h.runtime.status.create({
    ...{ id, status: 'sent', attempts: 1, createdAt: now, updatedAt: now, sender: 'noreply@contoso.example', recipientCount: 1 },
    caller: 'alpha',
    callbackUrl: `${h.stack.callbacks.url}/rotation`,
  });
  h.stack.callbacks.principals.add('alpha');
  try {
    const log = { log: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;
    const secrets = [h.stack.callbacks.secret, next];
    await attemptCallback(
      { version: 1, id, outcome: 'sent', occurredAt: now, attempt: 1 },
      { ...h.runtime.callbacks, config: { ...h.runtime.callbacks.config, secrets }, log },
    );
    const callback = await h.stack.callbacks.waitFor((c) => c.webhookId === `${id}.sent`);
    assert.equal(callback.verifiedAs, 'alpha');
    assert.equal(callback.webhookSignature.split(' ').length, 2, 'two v1 signatures, space-separated');
    assert.ok(signedWith(callback, secretOf(h.stack.callbacks.secret, 'alpha')), 'the current secret of alpha verifies');
    assert.ok(signedWith(callback, secretOf(next, 'alpha')), 'the next secret of alpha verifies');
    for (const other of ['beta', 'function-key', 'queue:producer'])
      for (const master of secrets)
        assert.ok(!signedWith(callback, secretOf(master, other)), `${other}'s secret does not verify alpha's callback`);
  } finally {
    h.stack.callbacks.principals.delete('alpha');
  }
});

test('MAIL_CALLBACK_SECRET: one master secret, or two while rotating; never three, never a weak one, never echoed', () => {
  const base = { ...h.settings };
  const strong = () => `whsec_${randomBytes(32).toString('base64')}`;
  const [one, two, three] = [strong(), strong(), strong()];
  assert.deepEqual(loadConfig({ ...base, MAIL_CALLBACK_SECRET: one }).callbacks.secrets, [one]);
  assert.deepEqual(loadConfig({ ...base, MAIL_CALLBACK_SECRET: `${one} ${two}` }).callbacks.secrets, [one, two]);
  const problems = (value: string) => {
    try {
      loadConfig({ ...base, MAIL_CALLBACK_SECRET: value });
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };
  assert.deepEqual(problems(`${one} ${two} ${three}`), ['MAIL_CALLBACK_SECRET: one secret, or two (current and next) while rotating']);
  const weak = problems(`${one} whsec_c2hvcnQ=`);
  assert.deepEqual(weak, ['MAIL_CALLBACK_SECRET: too short: at least 16 bytes after whsec_ (secret 2)']);
  assert.ok(!weak.join('').includes(one), 'no secret echoed');
});

test("the operator's scripts: a rotation in two steps, and each caller's secret(s) handed out as the app derives them", () => {
  // Azure cannot run here: `az` is a stand-in on PATH keeping one vault's secrets in a file; the scripts run with bash.
  const dir = mkdtempSync(join(tmpdir(), 'callback-secret-'));
  const fakeAz = `#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
const file = process.env.FAKE_AZ_STATE;
const secrets = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const verb = args.slice(0, 3).filter((a) => !a.startsWith('-')).join(' ');
if (verb === 'keyvault show') process.stdout.write('Enabled\\n');
else if (verb === 'keyvault secret list') {
  const name = /name=='([^']+)'/.exec(option('--query') ?? '');
  if (name) process.stdout.write((secrets[name[1]] === undefined ? 0 : 1) + '\\n');
} else if (verb === 'keyvault secret show') process.stdout.write(secrets[option('--name')] + '\\n');
else if (verb === 'keyvault secret set') {
  secrets[option('--name')] = fs.readFileSync(0, 'utf8');
  fs.writeFileSync(file, JSON.stringify(secrets));
  process.stdout.write('https://kv.vault.azure.net/secrets/' + option('--name') + '/1\\n');
} else if (verb !== 'account show') { process.stderr.write('fake az: unexpected call: ' + args.join(' ') + '\\n'); process.exit(2); }
`;
  writeFileSync(join(dir, 'az'), fakeAz);
  chmodSync(join(dir, 'az'), 0o755);
  const state = join(dir, 'state');
  const run = (script: string, ...args: string[]) => {
    const result = spawnSync('bash', [join(APP_ROOT, 'infra', 'scripts', script), '--vault', 'kv', ...args], {
      env: { PATH: `${dir}:${process.env.PATH ?? ''}`, HOME: dir, FAKE_AZ_STATE: state },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 0, `${script} ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const masters = () => (JSON.parse(readFileSync(state, 'utf8')) as Record<string, string>)['mail-callback-secret'].split(' ');
  const handedOut = (caller: string) => run('callback-secret.sh', '--caller', caller).trim().split('\n');
  try {
    run('new-callback-secret.sh');
    const [first] = masters();
    assert.equal(masters().length, 1);
    assert.equal(Buffer.from(first.replace(/^whsec_/, ''), 'base64').length, 32);
    run('new-callback-secret.sh');
    assert.deepEqual(masters(), [first], 'an existing secret is kept');
    assert.deepEqual(handedOut('alpha'), [callbackSecretFor(first, 'alpha')], "the caller's own secret, as the app derives it");
    assert.notDeepEqual(handedOut('alpha'), handedOut('beta'));

    run('new-callback-secret.sh', '--rotate');
    const [current, next] = masters();
    assert.equal(current, first, 'the current secret stays, the new one comes after it');
    assert.ok(next && next !== first);
    assert.deepEqual(loadConfig({ ...h.settings, MAIL_CALLBACK_SECRET: masters().join(' ') }).callbacks.secrets, [first, next]);
    assert.deepEqual(handedOut('alpha'), [callbackSecretFor(first, 'alpha'), callbackSecretFor(next, 'alpha')]);

    run('new-callback-secret.sh', '--finish-rotation');
    assert.deepEqual(masters(), [next]);
    assert.deepEqual(handedOut('alpha'), [callbackSecretFor(next, 'alpha')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
