// The door, without storage: what the validator refuses at the HTTP and queue boundaries, and that what it
// accepts composes into a message the receiver reads as sent (no line over 998 octets, ASCII envelope).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import MailComposer from 'nodemailer/lib/mail-composer';
import { MAX_CUSTOM_HEADERS, MAX_HEADER_VALUE, MAX_REPLY_TO, parseMailRequest, type MailRequest } from '../src/mail/mail-request';
import { decodeEnvelope } from '../src/mail/envelope';
import { composeMessage } from '../src/mail/compose';
import { mailFingerprint } from '../src/mail/canonical';
import { acceptMail, type IntakeDeps } from '../src/intake/accept-mail';
import { functionKeyCaller } from '../src/callers/sender-policy';

const valid = { from: 'noreply@contoso.example', to: 'someone@example.com', subject: 'Hello', text: 'Hi' };

function refused(input: unknown): string[] {
  const result = parseMailRequest(input);
  assert.equal(result.ok, false, `expected a refusal of ${JSON.stringify(input).slice(0, 200)}`);
  return result.ok ? [] : [...new Set(result.errors.map((e) => e.field))];
}

async function wire(mail: MailRequest): Promise<{ raw: string; envelope: { from: string; to: string[] } }> {
  const node = new MailComposer(composeMessage({ id: 'wire-1', createdAt: new Date(0).toISOString(), mail })).compile();
  const raw = (await node.build()).toString('latin1');
  return { raw, envelope: node.getEnvelope() as { from: string; to: string[] } };
}

const longestLine = (raw: string) => Math.max(...raw.split('\r\n').map((line) => line.length));

test(`custom headers are bounded: at most ${MAX_CUSTOM_HEADERS}, 16 KB of names and values, one spelling per name`, () => {
  const many = Object.fromEntries(Array.from({ length: MAX_CUSTOM_HEADERS + 1 }, (_, i) => [`X-H${i}`, 'v']));
  assert.deepEqual(refused({ ...valid, headers: many }), ['headers']);
  const large = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`X-H${i}`, 'v'.repeat(900)]));
  assert.deepEqual(refused({ ...valid, headers: large }), ['headers']);
  assert.deepEqual(refused({ ...valid, headers: { 'X-Tag': 'a', 'x-tag': 'b' } }), ['headers.x-tag']);
  assert.ok(
    parseMailRequest({ ...valid, headers: Object.fromEntries(Array.from({ length: MAX_CUSTOM_HEADERS }, (_, i) => [`X-H${i}`, 'v'])) }).ok,
  );
});

test(`replyTo is bounded (${MAX_REPLY_TO}), and so is each recipient list before its items are checked`, () => {
  const list = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@example.com`);
  assert.deepEqual(refused({ ...valid, replyTo: list(MAX_REPLY_TO + 1) }), ['replyTo']);
  assert.ok(parseMailRequest({ ...valid, replyTo: list(MAX_REPLY_TO) }).ok);
  assert.deepEqual(refused({ ...valid, to: list(5000) }), ['to']);
});

test('__proto__, constructor and prototype are refused as keys anywhere in a request or a queue message', () => {
  const cases = [
    '{"to":"a@example.com","subject":"s","text":"t","headers":{"__proto__":{"x":"1"}}}',
    '{"to":"a@example.com","subject":"s","text":"t","__proto__":{"from":"ceo@contoso.example"}}',
    '{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a","content":"aGk=","constructor":{}}]}',
    '{"to":{"address":"a@example.com","prototype":1},"subject":"s","text":"t"}',
  ];
  const fields = cases.map((body) => refused(JSON.parse(body)));
  assert.deepEqual(fields, [['headers.__proto__'], ['__proto__'], ['attachments[0].constructor'], ['to.prototype']]);
  const envelope = JSON.parse(`{"version":1,"id":"p1","createdAt":"2026-01-01T00:00:00Z","mail":${cases[0]}}`);
  const decoded = decodeEnvelope(envelope);
  assert.ok(!decoded.ok && decoded.errors.some((e) => e.field === 'mail.headers.__proto__'));
});

test('no accepted header value makes a line over 998 octets; one character more is refused', async () => {
  const unbroken = 'x'.repeat(MAX_HEADER_VALUE);
  const mail = { ...valid, subject: unbroken, headers: { 'X-Long': unbroken, References: `<${'r'.repeat(MAX_HEADER_VALUE - 2)}>` } };
  assert.ok(parseMailRequest(mail).ok);
  const { raw } = await wire(parseMailRequest(mail).ok ? mail : (undefined as never));
  assert.ok(longestLine(raw) <= 998, `longest line ${longestLine(raw)}`);
  assert.ok(raw.includes(unbroken), 'the value goes out whole, folded onto its own line');
  assert.deepEqual(refused({ ...valid, subject: `${unbroken}x` }), ['subject']);
  assert.deepEqual(refused({ ...valid, headers: { 'X-Long': `${unbroken}x` } }), ['headers.X-Long']);
  assert.deepEqual(refused({ ...valid, subject: 'a\u0000b' }), ['subject']);
});

test('multipart/* and message/* are refused as attachment types; discrete types pass', () => {
  for (const contentType of ['multipart/mixed', 'Multipart/Alternative', 'message/rfc822', 'message/partial']) {
    assert.deepEqual(
      refused({ ...valid, attachments: [{ filename: 'a', contentType, content: 'aGk=' }] }),
      ['attachments[0].contentType'],
      contentType,
    );
  }
  for (const contentType of ['application/pdf', 'image/png', 'text/csv', 'font/woff2', 'model/gltf+json', 'audio/ogg', 'video/mp4']) {
    assert.ok(parseMailRequest({ ...valid, attachments: [{ filename: 'a', contentType, content: 'aGk=' }] }).ok, contentType);
  }
});

test('addresses are ASCII: an A-label domain stays an A-label in the envelope and the headers; U-labels are refused', async () => {
  const mail = { ...valid, to: 'user@xn--bcher-kva.example', cc: 'b@shop.xn--p1ai' } as MailRequest;
  assert.ok(parseMailRequest(mail).ok);
  const { raw, envelope } = await wire(mail);
  assert.deepEqual(envelope.to, ['user@xn--bcher-kva.example', 'b@shop.xn--p1ai']);
  assert.match(raw, /^To: user@xn--bcher-kva\.example\r$/m);
  assert.ok(!/[\u0080-\uffff]/.test(envelope.to.join('') + envelope.from));
  assert.deepEqual(refused({ ...valid, to: 'user@bücher.example' }), ['to']);
  assert.deepEqual(refused({ ...valid, to: 'üser@example.com' }), ['to']);
});

test('the idempotency fingerprint is of the mail, not its spelling', () => {
  const base: MailRequest = { from: 'noreply@contoso.example', to: 'a@example.com', subject: 's', text: 't' };
  const respelled = JSON.parse(
    '{"text":"t","subject":"s","to":[{"address":"a@EXAMPLE.com"}],"from":{"address":"noreply@contoso.example"},"importance":"normal"}',
  );
  assert.equal(mailFingerprint(respelled), mailFingerprint(base));
  assert.notEqual(mailFingerprint({ ...base, subject: 'other' }), mailFingerprint(base));
  assert.notEqual(mailFingerprint({ ...base, to: ['a@example.com', 'b@example.com'] }), mailFingerprint(base));
  assert.notEqual(mailFingerprint({ ...base, to: 'A@example.com' }), mailFingerprint(base), 'local parts keep their case');
});

test('custom headers count toward MAIL_MAX_MESSAGE_BYTES, and a refused request touches no storage', async () => {
  const untouched = () => {
    throw new Error('storage must not be touched for a refused request');
  };
  const deps: IntakeDeps = {
    config: { allowedSenders: ['noreply@contoso.example'], defaultSender: 'noreply@contoso.example', maxMessageBytes: 4096 },
    outbox: { enqueue: untouched },
    status: { create: untouched, get: untouched, update: untouched, messageIdKey: untouched },
  };
  const headers = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`X-H${i}`, 'v'.repeat(900)]));
  const body = Buffer.from(JSON.stringify({ ...valid, headers }));
  const result = await acceptMail({ contentType: 'application/json', body, caller: functionKeyCaller(deps.config) }, deps);
  assert.equal(result.status, 413);
});

test('contentId (inline) only on images: an inline text part would be read as body and the file lost', () => {
  const inline = (contentType: string) => ({
    ...valid,
    html: '<img src="cid:a">',
    attachments: [{ filename: 'f', contentType, content: 'aGk=', contentId: 'a' }],
  });
  assert.deepEqual(refused(inline('text/plain')), ['attachments[0].contentId']);
  assert.deepEqual(refused(inline('application/pdf')), ['attachments[0].contentId']);
  assert.ok(parseMailRequest(inline('image/png')).ok);
});

test('In-Reply-To and References take ASCII message ids in angle brackets only', () => {
  for (const value of ['x'.repeat(50), '中'.repeat(10), '<a@b> <é@c>', '<a@b>,<c@d>', '<a b@c>']) {
    assert.deepEqual(refused({ ...valid, headers: { References: value } }), ['headers.References'], value);
  }
  assert.ok(parseMailRequest({ ...valid, headers: { 'In-Reply-To': '<a@b.example>', References: '<a@b.example> <c@d.example>' } }).ok);
});

test('JSON nested 50,000 deep is refused at once, naming the field, without walking every level', () => {
  const body = `{"to":"a@example.com","subject":"s","text":"t","x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
  const started = process.hrtime.bigint();
  const result = parseMailRequest(JSON.parse(body));
  assert.deepEqual(result.ok ? [] : result.errors.map((e) => e.field), ['x']);
  // Not a timing assertion on the product's speed: a guard that the walk is bounded, with a wide margin.
  assert.ok(process.hrtime.bigint() - started < 2_000_000_000n);
});

test('a refused header name says which headers are allowed; A-labels are accepted in any case', () => {
  const result = parseMailRequest({ ...valid, headers: { Bcc: 'x@example.com' } });
  assert.ok(!result.ok && result.errors.some((e) => e.field === 'headers.Bcc' && /X-\* headers/.test(e.detail)), JSON.stringify(result));
  assert.ok(parseMailRequest({ ...valid, to: 'a@SHOP.XN--P1AI' }).ok);
});
