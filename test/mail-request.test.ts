import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMailRequest, MAX_RECIPIENTS } from '../src/mail/mail-request';

const valid = { to: 'someone@example.com', subject: 'Hello', text: 'Hi' };

function fields(input: unknown): string[] {
  const result = parseMailRequest(input);
  assert.equal(result.ok, false, 'expected the request to be rejected');
  return result.ok ? [] : result.errors.map((e) => e.field);
}

test('a minimal request is valid, and both address forms are accepted', () => {
  assert.ok(parseMailRequest(valid).ok);
  assert.ok(parseMailRequest({ ...valid, to: [{ name: 'Some One', address: 'someone@example.com' }, 'b@example.com'] }).ok);
});

test('every bad field is listed, by path', () => {
  const got = fields({
    to: ['ok@example.com', 'not-an-address', { name: 'X', address: 'also bad' }],
    subject: 'Hi\r\nBcc: victim@example.com',
    attachments: [{ filename: 'a.pdf', contentType: 'pdf', content: '***' }],
    colour: 'blue',
  });
  assert.deepEqual(
    got.sort(),
    ['attachments[0].content', 'attachments[0].contentType', 'colour', 'subject', 'text', 'to[1]', 'to[2].address'].sort(),
  );
});

test('CR or LF is refused in every header value: subject, names, custom headers, filenames', () => {
  const got = fields({
    ...valid,
    from: { name: 'Evil\nBcc: x@example.com', address: 'a@example.com' },
    headers: { 'X-Tag': 'a\rb' },
    attachments: [{ filename: 'a\n.txt', content: 'aGk=' }],
  });
  assert.deepEqual(got.sort(), ['attachments[0].filename', 'from.name', 'headers.X-Tag']);
});

test('reserved headers are refused; X- headers and a few threading headers are allowed', () => {
  for (const name of [
    'From',
    'To',
    'Bcc',
    'Subject',
    'Date',
    'Message-ID',
    'Sender',
    'Return-Path',
    'Content-Type',
    'X-Priority',
    'X-MS-Exchange-Organization-AuthAs',
  ]) {
    assert.deepEqual(fields({ ...valid, headers: { [name]: 'x' } }), [`headers.${name}`], name);
  }
  assert.ok(
    parseMailRequest({
      ...valid,
      headers: { 'X-Correlation-Id': '42', 'In-Reply-To': '<a@b>', 'List-Unsubscribe': '<mailto:u@example.com>' },
    }).ok,
  );
});

test(`at most ${MAX_RECIPIENTS} recipients across to, cc and bcc; at least one`, () => {
  const many = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}@example.com`);
  assert.ok(parseMailRequest({ ...valid, to: many(200, 't'), cc: many(200, 'c'), bcc: many(100, 'b') }).ok);
  assert.deepEqual(fields({ ...valid, to: many(200, 't'), cc: many(200, 'c'), bcc: many(101, 'b') }), ['to']);
  assert.deepEqual(fields({ subject: 'x', text: 'y' }), ['to']);
});

test('text or html is required; importance is one of low, normal, high', () => {
  assert.deepEqual(fields({ to: 'a@example.com', subject: 'x' }), ['text']);
  assert.ok(parseMailRequest({ to: 'a@example.com', subject: 'x', html: '<p>x</p>', importance: 'high' }).ok);
  assert.deepEqual(fields({ ...valid, importance: 'urgent' }), ['importance']);
});

test('the subject is required and not empty or blank', () => {
  for (const subject of ['', '   ', undefined]) {
    const result = parseMailRequest({ ...valid, subject });
    assert.ok(!result.ok, JSON.stringify(subject));
    assert.deepEqual(
      result.errors.map((e) => e.field),
      ['subject'],
    );
    assert.match(result.errors[0].detail, /^required/, JSON.stringify(subject));
  }
});

test('a misspelt member: its intended field is "required", and the unknown one says what it likely meant', () => {
  const result = parseMailRequest({
    to: [{ name: 'A', adress: 'a@example.com' }],
    subjct: 'Hello',
    Text: 'Hi',
    attachments: [{ filname: 'a.txt', content: 'aGk=' }],
    colour: 'blue',
  });
  assert.ok(!result.ok);
  const byField = Object.fromEntries(result.errors.map((e) => [e.field, e.detail]));
  assert.deepEqual(byField, {
    subject: 'required',
    subjct: 'unknown field; did you mean subject?',
    Text: 'unknown field; did you mean text?',
    text: 'text or html is required',
    colour: 'unknown field',
    'to[0].address': 'required',
    'to[0].adress': 'unknown field; did you mean address?',
    'attachments[0].filename': 'required',
    'attachments[0].filname': 'unknown field; did you mean filename?',
  });
  assert.ok(!JSON.stringify(result.errors).includes('received undefined'), "never the validation library's wording");
});
