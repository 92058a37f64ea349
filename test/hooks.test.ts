// POST /api/hooks/{template} through the real stack: each shipped template rendered from its service's published
// sample payload to the SMTP server; Event Grid's handshakes; blob templates overriding shipped ones; and the
// hostile cases: template names that try to leave the folder, missing variables, oversized payloads, a sender or
// recipients outside the caller's policy, templates that try to run away.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from './support/harness';
import { createTemplateStore } from '../src/hooks/template-store';
import { TEMPLATES_DIRECTORY } from '../src/hooks/hook-stores';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sample = (name: string) => readFileSync(join(__dirname, '..', '..', 'test', 'samples', name), 'utf8');
const CONTAINER = 'mail-templates';
const CALLERS = [
  {
    name: 'monitoring',
    keySha256: sha256('monitoring-key'),
    senders: ['alerts@contoso.example'],
    defaultSender: 'alerts@contoso.example',
    recipientDomains: ['example.com'],
  },
  { name: 'events', keySha256: sha256('events-key'), senders: ['@contoso.example'], defaultSender: 'noreply@contoso.example' },
];
const MONITORING = { 'x-functions-key': 'monitoring-key' };
const EVENTS = { 'x-functions-key': 'events-key' };

let h: Harness;
before(async () => {
  h = await startHarness({
    settings: {
      MAIL_CALLERS: JSON.stringify(CALLERS),
      MAIL_TEMPLATE_CONTAINER: CONTAINER,
      // Every request reads the templates again, so a blob written by a test takes effect at once.
      MAIL_TEMPLATE_CACHE_SECONDS: '0',
      MAIL_HOOK_MAX_BYTES: String(64 * 1024),
    },
  });
  await h.runtime.storage.blobs.getContainerClient(CONTAINER).createIfNotExists();
});
after(async () => h?.close());

interface Answer {
  status: number;
  headers: Headers;
  json: any;
}

async function hook(path: string, body: string | object, headers: Record<string, string> = {}, method = 'POST'): Promise<Answer> {
  const response = await fetch(`${h.host!.url}/api/hooks/${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(method === 'POST' ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}

async function delivered(answer: Answer) {
  assert.equal(answer.status, 202, JSON.stringify(answer.json));
  const records = await Promise.all(answer.json.mails.map((m: { id: string }) => h.waitForFinal(m.id)));
  for (const record of records) assert.equal(record.status, 'sent', JSON.stringify(record));
  return Promise.all(records.map((r) => h.received(r.smtpMessageId)));
}

async function putTemplate(name: string, files: Record<string, string>) {
  const container = h.runtime.storage.blobs.getContainerClient(CONTAINER);
  for (const [file, text] of Object.entries(files))
    await container.getBlockBlobClient(`${name}/${file}`).upload(text, Buffer.byteLength(text));
}

async function removeTemplate(name: string) {
  const container = h.runtime.storage.blobs.getContainerClient(CONTAINER);
  for (const file of ['template.json', 'html.liquid', 'text.liquid']) await container.getBlobClient(`${name}/${file}`).deleteIfExists();
}

const smtpCount = () => h.stack.smtp.messages.length;

test('Azure Monitor: the common alert schema sample becomes one alert mail, once, whatever the retries', { timeout: 60_000 }, async () => {
  const body = sample('azure-monitor-common-alert.json');
  const first = await hook('azure-monitor-alert?to=oncall@example.com', body, MONITORING);
  const [mail] = await delivered(first);
  assert.equal(mail.subject, '[Resolved] Sev3 WCUS-R2-Gen2 on wcus-r2-gen2');
  assert.equal(mail.from?.value[0]?.address, 'alerts@contoso.example', "the caller's default sender");
  assert.deepEqual(
    (mail.to as { value: { address: string }[] }).value.map((a) => a.address),
    ['oncall@example.com'],
  );
  assert.match(String(mail.html), /Percentage CPU Average GreaterThan 25: value 7\.727/);
  assert.match(mail.text!, /Resolved:\s+2019-03-22 14:03:16 UTC/);
  assert.equal(
    mail.headers.get('x-azure-alert-id'),
    '/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330',
  );
  assert.equal(first.headers.get('location'), first.json.mails[0].statusUrl, 'one mail: Location to poll, as POST /api/mail');
  // Action groups retry a webhook that failed; the template's key (alert id and condition) makes it the same mail.
  const before = smtpCount();
  const again = await hook('azure-monitor-alert?to=oncall@example.com', body, MONITORING);
  assert.equal(again.status, 202);
  assert.equal(again.json.mails[0].id, first.json.mails[0].id);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(smtpCount(), before, 'nothing sent twice');
});

test(
  'Azure Monitor: recipients from the alert rule custom property, within the caller recipient domains',
  { timeout: 60_000 },
  async () => {
    const alert = JSON.parse(sample('azure-monitor-common-alert.json'));
    alert.data.essentials.monitorCondition = 'Fired';
    alert.data.essentials.severity = 'Sev1';
    alert.data.customProperties = { mailTo: 'dba@example.com, sre@example.com' };
    const [mail] = await delivered(await hook('azure-monitor-alert', alert, MONITORING));
    assert.deepEqual(
      (mail.to as { value: { address: string }[] }).value.map((a) => a.address),
      ['dba@example.com', 'sre@example.com'],
    );
    assert.equal(mail.headers.get('priority'), 'high', 'a fired Sev1 alert is important'); // mailparser folds Importance into this
    // A payload that names a recipient outside the caller's domains is refused, naming the policy.
    alert.data.customProperties = { mailTo: 'someone@elsewhere.test' };
    const refused = await hook('azure-monitor-alert', alert, MONITORING);
    assert.equal(refused.status, 403);
    assert.match(refused.json.errors[0].detail, /may send to: example\.com; not: someone@elsewhere\.test/);
  },
);

test('a missing variable is a 400 naming it, and an empty subject a 400: never an empty mail', { timeout: 30_000 }, async () => {
  const before = smtpCount();
  const noRecipient = await hook('azure-monitor-alert', sample('azure-monitor-common-alert.json'), MONITORING);
  assert.equal(noRecipient.status, 400);
  assert.equal(noRecipient.json.errors[0].field, 'query.to');
  const generic = JSON.parse(sample('generic.json'));
  delete generic.subject;
  const noSubject = await hook('generic', generic, EVENTS);
  assert.equal(noSubject.status, 400);
  assert.match(noSubject.json.detail, /uses payload\.subject, which the request does not have \(subject\)/);
  assert.equal(noSubject.json.errors[0].field, 'payload.subject');
  // A subject that renders empty is refused by the intake like any empty subject, naming the field.
  const emptySubject = await hook('generic', { ...JSON.parse(sample('generic.json')), subject: ' ', severity: undefined }, EVENTS);
  assert.equal(emptySubject.status, 400, JSON.stringify(emptySubject.json));
  assert.deepEqual(
    emptySubject.json.errors.map((e: { field: string }) => e.field),
    ['subject'],
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(smtpCount(), before);
});

test('generic: escaped per format — HTML-escaped in html, as is in text, one line in the subject', { timeout: 60_000 }, async () => {
  const payload = {
    ...JSON.parse(sample('generic.json')),
    subject: 'Disk <full>\r\nBcc: victim@example.com',
    message: '<script>alert(1)</script> & "quotes"',
    link: 'javascript:alert(1)',
  };
  const [mail] = await delivered(await hook('generic', payload, EVENTS));
  assert.equal(mail.subject, '[WARNING] Disk <full> Bcc: victim@example.com', 'CR/LF became a space: no header injection');
  assert.equal(mail.bcc, undefined);
  assert.match(String(mail.html), /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &#34;quotes&#34;/);
  assert.doesNotMatch(String(mail.html), /<script>|href="javascript:/);
  assert.match(mail.text!, /<script>alert\(1\)<\/script> & "quotes"/);
  assert.match(String(mail.html), /<th align="left">skipped<\/th><td>3<\/td>/);
});

test(
  'Event Grid: the BlobCreated sample, one mail per event in a batch; a redelivery sends nothing again',
  { timeout: 60_000 },
  async () => {
    const [event] = JSON.parse(sample('event-grid-blob-created.json'));
    const second = {
      ...event,
      id: '831e1650-001e-001b-66ab-eeb76e069632',
      subject: '/blobServices/default/containers/test-container/blobs/second.txt',
    };
    const batch = JSON.stringify([event, second]);
    const headers = { ...EVENTS, 'aeg-event-type': 'Notification' };
    const answer = await hook('event-grid?to=storage@example.com', batch, headers);
    const mails = await delivered(answer);
    assert.equal(answer.headers.get('location'), null, 'several mails: no single Location');
    assert.deepEqual(mails.map((m) => m.subject).sort(), [
      'Microsoft.Storage.BlobCreated: /blobServices/default/containers/test-container/blobs/new-file.txt',
      'Microsoft.Storage.BlobCreated: /blobServices/default/containers/test-container/blobs/second.txt',
    ]);
    assert.match(String(mails[0].html), /<a href="https:\/\/my-storage-account\.blob\.core\.windows\.net\/testcontainer\//);
    assert.match(mails[0].text!, /storageDiagnostics: \{"batchId":"b68529f3-68cd-4744-baa4-3c0498ec19f0"\}/);
    const before = smtpCount();
    const redelivery = await hook('event-grid?to=storage@example.com', batch, headers);
    assert.deepEqual(
      redelivery.json.mails.map((m: { id: string }) => m.id),
      answer.json.mails.map((m: { id: string }) => m.id),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(smtpCount(), before);
  },
);

test('Event Grid: the same event as a CloudEvent, and a batch as one digest', { timeout: 60_000 }, async () => {
  const [cloudEvent] = await delivered(
    await hook('event-grid?to=storage@example.com', sample('cloudevents-blob-created.json'), {
      ...EVENTS,
      'content-type': 'application/cloudevents-batch+json',
    }),
  );
  assert.equal(cloudEvent.subject, 'Microsoft.Storage.BlobCreated: /blobServices/default/containers/test-container/blobs/new-file.txt');
  const [event] = JSON.parse(sample('event-grid-blob-created.json'));
  const events = [0, 1, 2].map((i) => ({ ...event, id: `digest-${i}`, subject: `/blobServices/default/containers/c/blobs/${i}.txt` }));
  const answer = await hook('event-grid-digest?to=storage@example.com', events, EVENTS);
  const [digest] = await delivered(answer);
  assert.equal(answer.json.mails.length, 1);
  assert.equal(digest.subject, '3 events: Microsoft.Storage.BlobCreated and more');
  assert.equal((digest.text!.match(/^- 2017-06-26 18:41:00 {2}Microsoft\.Storage\.BlobCreated/gm) ?? []).length, 3);
});

test('Event Grid handshake: answered for an Event Grid template and an authenticated caller only', { timeout: 30_000 }, async () => {
  const validation = sample('event-grid-subscription-validation.json');
  const headers = { 'aeg-event-type': 'SubscriptionValidation' };
  const ok = await hook('event-grid', validation, { ...EVENTS, ...headers });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { validationResponse: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6' });
  // Someone subscribing our endpoint to their topic without a key: not confirmed.
  assert.equal((await hook('event-grid', validation, headers)).status, 401);
  assert.equal((await hook('event-grid', validation, { ...headers, 'x-functions-key': 'guessed' })).status, 401);
  // A template that takes no Event Grid events never confirms a subscription.
  const json = await hook('generic', validation, { ...EVENTS, ...headers });
  assert.equal(json.status, 400);
  assert.match(json.json.detail, /takes no Event Grid subscriptions/);
  assert.equal((await hook('generic', validation, EVENTS)).status, 400, 'nor without the header');
});

test(
  'CloudEvents abuse protection: OPTIONS allows eventgrid.azure.net for an Event Grid template and a caller',
  { timeout: 30_000 },
  async () => {
    const origin = { 'webhook-request-origin': 'eventgrid.azure.net' };
    const ok = await hook('event-grid', '', { ...EVENTS, ...origin }, 'OPTIONS');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('webhook-allowed-origin'), 'eventgrid.azure.net');
    assert.equal(ok.headers.get('webhook-allowed-rate'), '*');
    assert.equal((await hook('event-grid', '', origin, 'OPTIONS')).status, 401);
    assert.equal((await hook('event-grid', '', { ...EVENTS, 'webhook-request-origin': 'attacker.example' }, 'OPTIONS')).status, 403);
    assert.equal((await hook('generic', '', { ...EVENTS, ...origin }, 'OPTIONS')).status, 400);
    assert.equal((await hook('event-grid', '', EVENTS, 'OPTIONS')).status, 400, 'no WebHook-Request-Origin');
  },
);

test('hostile template names never reach a file or a blob: 404 (or 400 for a malformed path)', { timeout: 30_000 }, async () => {
  for (const name of [
    '..%2f..%2fhost.json',
    '..%2F..%2Fpackage.json',
    '%2e%2e',
    '..',
    'generic%00',
    'Generic',
    'generic.json',
    'generic%2ftemplate.json',
    `${'a'.repeat(64)}`,
    '%252e%252e%252fhost.json',
    'generic-',
    '-generic',
    'a--b',
  ]) {
    const answer = await hook(name, sample('generic.json'), EVENTS);
    assert.ok(answer.status === 404 || answer.status === 400, `${name}: ${answer.status}`);
    assert.ok(!JSON.stringify(answer.json ?? '').includes('extensions'), `${name}: host.json leaked`);
  }
  // The store refuses them itself too, whatever reaches it.
  const store = createTemplateStore({ directory: TEMPLATES_DIRECTORY, ttlMs: 0 });
  for (const name of ['../../host.json', '../templates/generic', 'generic/../generic', '/etc/passwd', 'C:\\x', '']) {
    assert.deepEqual(await store.get(name), { ok: false, status: 404 }, name);
  }
  assert.equal((await store.get('generic')).ok, true);
});

test(
  'oversized payloads are refused at the limit before they are read whole; other bad requests are named',
  { timeout: 30_000 },
  async () => {
    const huge = JSON.stringify({ ...JSON.parse(sample('generic.json')), message: 'x'.repeat(70 * 1024) });
    const tooLarge = await hook('generic', huge, EVENTS);
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.json.detail, /over 65536 bytes/);
    assert.equal((await hook('generic', sample('generic.json'), { ...EVENTS, 'content-type': 'text/plain' })).status, 415);
    assert.equal((await hook('generic', '{"to":', EVENTS)).status, 400);
    assert.equal((await hook('no-such-template', sample('generic.json'), EVENTS)).status, 404);
    assert.equal((await hook('no-such-template', sample('generic.json'))).status, 401, 'who is calling comes first');
    assert.equal((await hook('event-grid', '{"not":"events"}', EVENTS)).status, 400);
  },
);

test('a hook and POST /api/mail agree on what is JSON, a repeated name and an Idempotency-Key', { timeout: 30_000 }, async () => {
  const mail = async (headers: Record<string, string>) => {
    const response = await fetch(`${h.host!.url}/api/mail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...EVENTS, ...headers },
      body: JSON.stringify({ to: 'someone@example.com', subject: 'Hello', text: 'Hi' }),
      signal: AbortSignal.timeout(15_000),
    });
    return { status: response.status, json: (await response.json()) as { errors?: { field: string }[] } };
  };
  const before = smtpCount();
  // The hook path took any type ending in +json; the intake only application/json and application/<x>+json.
  for (const contentType of ['text/x+json', '+json', '/x+json', 'application/+json', 'application/json-seq']) {
    assert.equal((await hook('generic', sample('generic.json'), { ...EVENTS, 'content-type': contentType })).status, 415, contentType);
    assert.equal((await mail({ 'content-type': contentType })).status, 415, contentType);
  }
  for (const key of ['', 'with space', 'x'.repeat(256), 'caf\u00e9']) {
    const hooked = await hook('generic', sample('generic.json'), { ...EVENTS, 'idempotency-key': key });
    const mailed = await mail({ 'idempotency-key': key });
    for (const answer of [hooked, mailed]) {
      assert.equal(answer.status, 400, JSON.stringify(answer.json));
      assert.deepEqual(
        answer.json.errors?.map((e: { field: string }) => e.field),
        ['Idempotency-Key'],
      );
    }
  }
  // The hook path read its payload with JSON.parse, which keeps the last of a repeated name; the intake refuses it.
  const repeated = `{"to":"someone@example.com","subject":"Hello","text":"Hi","message":"a","message":"b"}`;
  const hooked = await hook('generic', repeated, EVENTS);
  assert.equal(hooked.status, 400, JSON.stringify(hooked.json));
  assert.deepEqual(
    hooked.json.errors?.map((e: { field: string }) => e.field),
    ['message'],
  );
  assert.equal(smtpCount(), before, 'nothing refused was sent');
});

test('a blob template wins over the shipped one, and the shipped one is back when the blob goes', { timeout: 60_000 }, async () => {
  await putTemplate('generic', {
    'template.json': JSON.stringify({
      input: 'json',
      from: 'ops@contoso.example',
      to: ['ops@example.com'],
      subject: 'From the blob: {{ payload.subject }}',
    }),
    'text.liquid': '{{ payload.message }}',
  });
  try {
    const [mail] = await delivered(await hook('generic', sample('generic.json'), EVENTS));
    assert.equal(mail.subject, 'From the blob: Nightly export finished with warnings');
    assert.equal(mail.from?.value[0]?.address, 'ops@contoso.example');
    assert.ok(!mail.html, 'the blob template has no html part');
    // The template fixes the sender, still within the caller's senders: monitoring may not send as ops@.
    const refused = await hook('generic', sample('generic.json'), MONITORING);
    assert.equal(refused.status, 403);
  } finally {
    await removeTemplate('generic');
  }
  const [shipped] = await delivered(await hook('generic', sample('generic.json'), EVENTS));
  assert.equal(shipped.subject, '[WARNING] Nightly export finished with warnings');
});

test(
  'templates are bounded: an invalid one is a 500 naming the problem in the log, a runaway render a 422',
  { timeout: 60_000 },
  async () => {
    try {
      await putTemplate('broken', {
        'template.json': JSON.stringify({ to: ['a@example.com'], subject: '{{ payload.x | no_such_filter }}' }),
        'text.liquid': 'x',
      });
      const broken = await hook('broken', {}, EVENTS);
      assert.equal(broken.status, 500);
      await h.waitForLog('undefined filter: no_such_filter');
      assert.ok(h.logs.some((l) => l.includes('Template broken (blob) is invalid: subject: undefined filter: no_such_filter')));

      await putTemplate('includes', {
        'template.json': JSON.stringify({ to: ['a@example.com'], subject: 'x' }),
        'text.liquid': '{% include "../../host.json" %}',
      });
      const include = await hook('includes', {}, EVENTS);
      assert.equal(include.status, 422, 'templates cannot read files');

      await putTemplate('runaway', {
        'template.json': JSON.stringify({ to: ['a@example.com'], subject: 'x' }),
        'text.liquid': '{% for i in (1..100000000) %}{{ i }}{% endfor %}',
      });
      const started = Date.now();
      const runaway = await hook('runaway', {}, EVENTS);
      assert.equal(runaway.status, 422);
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);

      await putTemplate('huge', {
        'template.json': JSON.stringify({ to: ['a@example.com'], subject: 'x' }),
        'text.liquid': 'x'.repeat(300 * 1024),
      });
      assert.equal((await hook('huge', {}, EVENTS)).status, 500, 'a template file over 256 KB is not loaded');
    } finally {
      for (const name of ['broken', 'includes', 'runaway', 'huge']) await removeTemplate(name);
    }
  },
);

test('a template store reuses a lookup for its TTL, then reads again', { timeout: 30_000 }, async () => {
  let now = 0;
  const container = h.runtime.storage.blobs.getContainerClient(CONTAINER);
  const store = createTemplateStore({ directory: TEMPLATES_DIRECTORY, container, ttlMs: 60_000, now: () => now });
  await putTemplate('cached', { 'template.json': JSON.stringify({ to: ['a@example.com'], subject: 'one' }), 'text.liquid': 'x' });
  try {
    const first = await store.get('cached');
    assert.ok(first.ok);
    await putTemplate('cached', { 'template.json': JSON.stringify({ to: ['a@example.com'], subject: 'two' }) });
    assert.equal(await store.get('cached'), first, 'within the TTL');
    now = 61_000;
    const second = await store.get('cached');
    assert.ok(second.ok && second.template.spec.subject === 'two');
  } finally {
    await removeTemplate('cached');
  }
});
