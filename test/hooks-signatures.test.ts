// Signed hooks: Standard Webhooks and GitHub signatures, checked against the specifications' published examples and
// through the real stack — valid, forged, wrong secret, missing, expired, from the future, replayed, rotated — a
// signed hook sending as the caller it is, under its own sender policy, with recipients only from what is signed or
// configured, and the replay record that answers a repeated delivery with its first mails.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { startHarness, type Harness } from './support/harness';
import { signStandardWebhook, verifyGitHub, verifyStandardWebhook } from '../src/hooks/signatures';
import { unsignedHookCaller } from '../src/handlers/hook-caller';
import type { HttpRequest } from '@azure/functions';

/** GitHub's signature, as the maintained library computes it. */
const signGitHub = async (key: string, body: string) => (await import('@octokit/webhooks-methods')).sign(key, body);
const sample = (name: string) => readFileSync(join(__dirname, '..', '..', 'test', 'samples', name), 'utf8');
const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const SECRET = secret();
const NEXT_SECRET = secret();
const GITHUB_SECRET = randomBytes(24).toString('hex');
const QUERY_SECRET = secret();
const FIXED_SECRET = secret();
const CONTAINER = 'mail-templates';
const HOOKS = [
  {
    template: 'generic',
    signature: 'standard-webhooks',
    senders: ['saas@contoso.example'],
    defaultSender: 'saas@contoso.example',
    recipientDomains: ['example.com'],
  },
  { template: 'github-push', signature: 'github', senders: ['ci@contoso.example'], defaultSender: 'ci@contoso.example' },
  // A template that reads ?to=, signed: refused, the URL being outside the signature.
  { template: 'signed-query', signature: 'standard-webhooks', senders: ['saas@contoso.example'], defaultSender: 'saas@contoso.example' },
  // The same body as generic's, under another template with its own secret and fixed recipients.
  { template: 'signed-fixed', signature: 'standard-webhooks', senders: ['saas@contoso.example'], defaultSender: 'saas@contoso.example' },
];

let h: Harness;
before(async () => {
  h = await startHarness({
    settings: {
      MAIL_HOOKS: JSON.stringify(HOOKS),
      MAIL_HOOK_SECRETS: JSON.stringify({
        generic: [SECRET, NEXT_SECRET],
        'github-push': GITHUB_SECRET,
        'signed-query': QUERY_SECRET,
        'signed-fixed': FIXED_SECRET,
      }),
      MAIL_TEMPLATE_CONTAINER: CONTAINER,
    },
  });
  const container = h.runtime.storage.blobs.getContainerClient(CONTAINER);
  await container.createIfNotExists();
  const files = {
    'template.json': JSON.stringify({
      to: ['builds@example.com'],
      subject: '{{ payload.repository.full_name }}: {{ payload.commits.size }} commit(s) to {{ payload.ref }}',
    }),
    'text.liquid': '{% for c in payload.commits %}{{ c.id | slice: 0, 7 }} {{ c.message }}\n{% endfor %}',
  };
  const templates: Record<string, Record<string, string>> = {
    'github-push': files,
    'signed-query': {
      'template.json': JSON.stringify({ recipientsFromRequest: { to: '{{ query.to }}' }, subject: '{{ payload.subject }}' }),
      'text.liquid': '{{ payload.message }}',
    },
    'signed-fixed': {
      'template.json': JSON.stringify({ to: ['fixed@example.com'], subject: '{{ payload.subject }}' }),
      'text.liquid': '{{ payload.message }}',
    },
  };
  for (const [template, parts] of Object.entries(templates))
    for (const [file, text] of Object.entries(parts))
      await container.getBlockBlobClient(`${template}/${file}`).upload(text, Buffer.byteLength(text));
});
after(async () => h?.close());

test('Standard Webhooks: the specification example verifies, and nothing else does', () => {
  // The example of the Standard Webhooks specification (and its reference libraries' tests).
  const example = {
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    timestamp: 1614265330,
    body: '{"test": 2432232314}',
  };
  const signature = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
  assert.equal(signStandardWebhook(example.secret, example.id, example.timestamp, example.body), signature);
  const headers =
    (sig: string, id = example.id) =>
    (name: string) =>
      ({ 'webhook-id': id, 'webhook-timestamp': String(example.timestamp), 'webhook-signature': sig })[name] ?? null;
  const at = example.timestamp * 1000;
  assert.deepEqual(verifyStandardWebhook(headers(signature), Buffer.from(example.body), [example.secret], at), {
    ok: true,
    deliveryKey: `webhook-id:${example.id}`,
  });
  assert.deepEqual(
    verifyStandardWebhook(headers(`v1,bogus v1a,x ${signature}`), Buffer.from(example.body), [example.secret], at).ok,
    true,
    'any of several signatures',
  );
  assert.equal(verifyStandardWebhook(headers(signature), Buffer.from('{"test": 2432232315}'), [example.secret], at).ok, false);
  assert.equal(
    verifyStandardWebhook(headers(signature, 'msg_other'), Buffer.from(example.body), [example.secret], at).ok,
    false,
    'the id is signed',
  );
  assert.equal(verifyStandardWebhook(headers(signature), Buffer.from(example.body), [SECRET], at).ok, false);
  assert.equal(
    verifyStandardWebhook(headers(signature.replace('v1,', 'v2,')), Buffer.from(example.body), [example.secret], at).ok,
    false,
    'only v1 is understood',
  );
  const late = verifyStandardWebhook(headers(signature), Buffer.from(example.body), [example.secret], at + 301_000);
  assert.ok(!late.ok && /expired/.test(late.detail));
});

test('Standard Webhooks: what we sign the standardwebhooks package verifies, and what it signs we verify', () => {
  const key = secret();
  const reference = new Webhook(key);
  const body = Buffer.from(sample('generic.json'));
  const now = Date.now();
  const at = Math.floor(now / 1000);
  const ours = {
    'webhook-id': 'msg_interop',
    'webhook-timestamp': String(at),
    'webhook-signature': signStandardWebhook(key, 'msg_interop', at, body),
  };
  assert.doesNotThrow(() => reference.verify(body, ours, { jsonParse: false }));
  const theirs = { ...ours, 'webhook-signature': reference.sign('msg_interop', new Date(at * 1000), body) };
  assert.equal(theirs['webhook-signature'], ours['webhook-signature']);
  const header = (headers: Record<string, string>) => (name: string) => headers[name] ?? null;
  assert.equal(verifyStandardWebhook(header(theirs), body, [key], now).ok, true);
  const forged = { ...theirs, 'webhook-signature': reference.sign('msg_other', new Date(at * 1000), body) };
  assert.throws(() => reference.verify(body, forged, { jsonParse: false }), WebhookVerificationError);
  assert.equal(verifyStandardWebhook(header(forged), body, [key], now).ok, false);
});

test('GitHub: the documented example verifies; a changed body, a wrong secret or a malformed header does not', async () => {
  // GitHub's documentation: secret "It's a Secret to Everybody", payload "Hello, World!".
  const expected = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
  assert.equal(await signGitHub("It's a Secret to Everybody", 'Hello, World!'), expected, 'the library signs as documented');
  const header = (value: string) => (name: string) => (name === 'x-hub-signature-256' ? value : null);
  const verified = (value: string, body: string, secrets = ["It's a Secret to Everybody"]) =>
    verifyGitHub(header(value), Buffer.from(body), secrets).ok;
  assert.equal(verified(expected, 'Hello, World!'), true);
  assert.equal(verified(expected.toUpperCase().replace('SHA256', 'sha256'), 'Hello, World!'), true, 'hex case');
  assert.equal(verified(expected, 'Hello, World!', ['another secret', "It's a Secret to Everybody"]), true, 'any secret');
  assert.equal(verified(expected, 'Hello, World?'), false);
  assert.equal(verified(expected, 'Hello, World!', ['another secret entirely']), false);
  assert.equal(verified(expected, 'Hello, World!', []), false, 'no secret');
  assert.equal(verified('sha1=abc', 'Hello, World!'), false);
  // What the library verifies, ours does too, and the other way round.
  const body = sample('generic.json');
  const ours = `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`;
  const { verify } = await import('@octokit/webhooks-methods');
  assert.equal(await verify(GITHUB_SECRET, body, ours), true);
  assert.equal(verified(await signGitHub(GITHUB_SECRET, body), body, [GITHUB_SECRET]), true);
});
async function deliver(path: string, body: string, headers: Record<string, string>) {
  const response = await fetch(`${h.host!.url}/api/hooks/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
}

function signed(body: string, { id = `msg_${randomBytes(8).toString('hex')}`, at = Math.floor(Date.now() / 1000), key = SECRET } = {}) {
  return { 'webhook-id': id, 'webhook-timestamp': String(at), 'webhook-signature': signStandardWebhook(key, id, at, body) };
}

test('a Standard Webhooks delivery is sent as the hook, once however often it is replayed in the window', { timeout: 60_000 }, async () => {
  const body = sample('generic.json');
  const headers = signed(body);
  const first = await deliver('generic', body, headers);
  assert.equal(first.status, 202, JSON.stringify(first.json));
  const record = await h.waitForFinal(first.json.mails[0].id);
  assert.equal(record.status, 'sent');
  assert.equal(record.caller, 'hook.generic');
  const mail = await h.received(record.smtpMessageId!);
  assert.equal(mail.from?.value[0]?.address, 'saas@contoso.example', "the hook's own default sender");
  const before = h.stack.smtp.messages.length;
  for (let i = 0; i < 3; i++) {
    const replay = await deliver('generic', body, headers);
    assert.equal(replay.status, 202);
    assert.equal(replay.json.mails[0].id, first.json.mails[0].id, 'the same webhook-id is the same mail');
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(h.stack.smtp.messages.length, before, 'a replay sends nothing');
});

test(
  'forged, unsigned, expired, future, wrong-secret and caller-key deliveries to a signed hook are 401',
  { timeout: 30_000 },
  async () => {
    const body = sample('generic.json');
    const before = h.stack.smtp.messages.length;
    const cases: [string, string, Record<string, string>, RegExp][] = [
      ['forged body', body.replace('oncall', 'attacker'), signed(body), /does not verify/],
      ['no signature', body, {}, /webhook-id, webhook-timestamp and webhook-signature are required/],
      ['expired', body, signed(body, { at: Math.floor(Date.now() / 1000) - 6 * 60 }), /expired/],
      ['from the future', body, signed(body, { at: Math.floor(Date.now() / 1000) + 6 * 60 }), /in the future/],
      ['wrong secret', body, signed(body, { key: secret() }), /does not verify/],
      ['a caller key instead', body, { 'x-functions-key': 'anything' }, /required/],
      ['a GitHub signature instead', body, { 'x-hub-signature-256': await signGitHub(GITHUB_SECRET, body) }, /required/],
    ];
    for (const [what, payload, headers, detail] of cases) {
      const answer = await deliver('generic', payload, headers);
      assert.equal(answer.status, 401, what);
      assert.match(answer.json.detail, detail, what);
      assert.ok(!JSON.stringify(answer.json).includes(SECRET.slice(6)), `${what}: the secret is never echoed`);
    }
    // An expired delivery replayed with its original headers is still refused: the window is the replay bound.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.stack.smtp.messages.length, before);
    assert.ok(!h.logs.some((l) => l.includes(SECRET.slice(6)) || l.includes(GITHUB_SECRET)), 'no secret in the logs');
  },
);

test('while a secret is rotated, a delivery signed with either verifies', { timeout: 60_000 }, async () => {
  const body = JSON.stringify({ ...JSON.parse(sample('generic.json')), subject: 'Signed with the next secret' });
  const answer = await deliver('generic', body, signed(body, { key: NEXT_SECRET }));
  assert.equal(answer.status, 202);
  assert.equal((await h.waitForFinal(answer.json.mails[0].id)).status, 'sent');
});

test('a signed hook sends only within its own policy', { timeout: 30_000 }, async () => {
  const body = JSON.stringify({ ...JSON.parse(sample('generic.json')), to: 'someone@elsewhere.test' });
  const answer = await deliver('generic', body, signed(body));
  assert.equal(answer.status, 403);
  assert.match(answer.json.detail, /caller hook\.generic/);
});

test('GitHub: a signed push is sent; the same body again is the same mail; a bad signature is 401', { timeout: 60_000 }, async () => {
  const push = JSON.stringify({
    ref: 'refs/heads/main',
    repository: { full_name: 'contoso/mailer' },
    commits: [{ id: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c', message: 'Fix the build' }],
  });
  const headers = { 'x-github-event': 'push', 'x-hub-signature-256': await signGitHub(GITHUB_SECRET, push) };
  const first = await deliver('github-push', push, headers);
  assert.equal(first.status, 202, JSON.stringify(first.json));
  const record = await h.waitForFinal(first.json.mails[0].id);
  const mail = await h.received(record.smtpMessageId!);
  assert.equal(mail.subject, 'contoso/mailer: 1 commit(s) to refs/heads/main');
  assert.match(mail.text!, /^0d1a26e Fix the build$/m);
  // GitHub signs no time: a replayed delivery is recognised by its body and sends nothing new.
  const replay = await deliver('github-push', push, { ...headers, 'x-github-delivery': 'another-guid' });
  assert.equal(replay.json.mails[0].id, first.json.mails[0].id);
  assert.equal((await deliver('github-push', push, { 'x-hub-signature-256': await signGitHub('wrong', push) })).status, 401);
  assert.equal((await deliver('github-push', push, {})).status, 401);
});

test('an unsigned hook with no caller policy is refused when the host lets hook requests through', async () => {
  // MAIL_HOOKS without MAIL_CALLERS: hooks are anonymous at the host, so an unsigned hook could not know its caller.
  const deps = {
    config: { callers: undefined, hooks: { signed: [HOOKS[0]] } },
    authenticate: () => Promise.reject(new Error('not asked')),
  };
  const result = await unsignedHookCaller(deps, {} as HttpRequest);
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.response.status, 401);
});

test(
  'a signed hook takes no recipients from the URL: a template reading query is refused, whatever ?to= says',
  { timeout: 30_000 },
  async () => {
    const before = h.stack.smtp.messages.length;
    const body = JSON.stringify({ subject: 'Query', message: 'x' });
    const answer = await deliver('signed-query?to=attacker@example.com', body, signed(body, { key: QUERY_SECRET }));
    assert.equal(answer.status, 500, JSON.stringify(answer.json));
    assert.ok(
      h.logs.some((l) => l.includes('signed hook signed-query') && l.includes('reads query')),
      'the operator learns why from the log',
    );
    // A signed template that takes its recipients from the signed payload ignores the URL's parameters altogether.
    const generic = JSON.stringify({ ...JSON.parse(sample('generic.json')), subject: 'Payload recipients only' });
    const sent = await deliver('generic?to=attacker@example.com', generic, signed(generic));
    assert.equal(sent.status, 202, JSON.stringify(sent.json));
    const record = await h.waitForFinal(sent.json.mails[0].id);
    const message = h.stack.smtp.messages.find((m) => m.messageId === record.smtpMessageId)!;
    assert.deepEqual(message.rcptTo, [JSON.parse(generic).to]);
    assert.equal(h.stack.smtp.messages.filter((m) => m.rcptTo.includes('attacker@example.com')).length, 0);
    assert.equal(h.stack.smtp.messages.length, before + 1);
  },
);

test('a delivery signed for one hook does not verify at another: each template has its own secret', { timeout: 30_000 }, async () => {
  const body = JSON.stringify({ subject: 'Meant for generic', message: 'x', to: 'oncall@example.com' });
  const headers = signed(body);
  for (const other of ['signed-fixed', 'signed-query']) {
    const answer = await deliver(other, body, headers);
    assert.equal(answer.status, 401, other);
  }
});

test(
  'the replay record: a repeat is answered with the first mails, even with another ?to=; a delivery in hand is 409',
  { timeout: 60_000 },
  async () => {
    const body = JSON.stringify({ subject: 'Replayed', message: 'x' });
    const headers = signed(body, { key: FIXED_SECRET });
    const first = await deliver('signed-fixed', body, headers);
    assert.equal(first.status, 202, JSON.stringify(first.json));
    const id = first.json.mails[0].id as string;
    await h.waitForFinal(id);
    const rows = h.runtime.storage
      .table(h.config.statusTable)
      .listEntities({ queryOptions: { filter: "PartitionKey eq '~hook-delivery'" } });
    const recorded = [];
    for await (const row of rows) if (String(row.rowKey).startsWith('signed-fixed|')) recorded.push(row);
    assert.deepEqual(
      recorded.map((r) => [r.state, JSON.parse(String(r.mailIds))]),
      [['accepted', [id]]],
    );

    // Replayed with another ?to=: answered from the record with the first delivery's mail, nothing rendered or sent.
    const replay = await deliver('signed-fixed?to=attacker@example.com', body, headers);
    assert.equal(replay.status, 202);
    assert.deepEqual(
      replay.json.mails.map((m: { id: string; status: string }) => [m.id, m.status]),
      [[id, 'sent']],
    );
    assert.equal(h.stack.smtp.messages.filter((m) => m.messageId === `<${id}@contoso.example>`).length, 1);
    assert.equal(h.stack.smtp.messages.filter((m) => m.rcptTo.includes('attacker@example.com')).length, 0);

    // A delivery whose first presentation is still being handled (its row says so, within the lease) is refused for now.
    const table = h.runtime.storage.table(h.config.statusTable);
    const other = JSON.stringify({ subject: 'In hand', message: 'x' });
    const inHand = signed(other, { key: FIXED_SECRET });
    const busy = await deliver('signed-fixed', other, inHand);
    assert.equal(busy.status, 202);
    const partitionKey = '~hook-delivery';
    const rowKey = `signed-fixed|${createHash('sha256').update(`webhook-id:${inHand['webhook-id']}`).digest('hex')}`;
    await table.upsertEntity({ partitionKey, rowKey, state: 'handling', since: new Date().toISOString() }, 'Replace');
    const refused = await deliver('signed-fixed', other, inHand);
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    // One whose handler stopped (its lease lapsed) is handled again, and its mail found by its key: still one mail.
    await table.upsertEntity(
      { partitionKey, rowKey, state: 'handling', since: new Date(Date.now() - 10 * 60_000).toISOString() },
      'Replace',
    );
    const again = await deliver('signed-fixed', other, inHand);
    assert.equal(again.status, 202, JSON.stringify(again.json));
    assert.equal(again.json.mails[0].id, busy.json.mails[0].id);
    await h.waitForFinal(busy.json.mails[0].id);
    assert.equal(h.stack.smtp.messages.filter((m) => m.messageId === `<${busy.json.mails[0].id}@contoso.example>`).length, 1);
  },
);

test("a refused delivery leaves no replay record: the sender's retry of the same id is handled anew", { timeout: 30_000 }, async () => {
  // generic needs payload.to; without it the delivery is a 400, and the same webhook-id may come again.
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const at = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ subject: 'No recipient', message: 'x' });
  const refused = await deliver('generic', body, signed(body, { id, at }));
  assert.equal(refused.status, 400, JSON.stringify(refused.json));
  const retried = await deliver('generic', body, signed(body, { id, at }));
  assert.equal(retried.status, 400, 'handled again, not answered from a record');
});
