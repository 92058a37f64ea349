// The bad-input corpus (test/corpus/*.jsonl) through the real POST /api/mail handler with the real stack behind it
// (Azurite, the local host's queue worker, the Exchange-like SMTP server). Each case is its own test: its status, a
// problem+json answer and, for 400, exactly the fields it names. Afterwards: nothing queued (poison queue included),
// no status record, no payload blob, nothing at the SMTP server. The app authenticates callers itself (MAIL_CALLERS:
// the harness's key, with every allowed sender, and Entra tokens of the local tenant), so credential cases reach it.
//
// A case is one JSON line: { name, class, request: { body | raw, headers? }, expect: { status, fields? } }; fields
// (the `field` of each error in the answer, as a set) are required for 400 and checked whenever given.
// `body` is sent as JSON.stringify(body); `raw` is sent as it is (broken JSON, duplicate keys, reserved keys).
// Large values are written as templates so the data stays small and follows the product's limits:
//   { "$repeat": "x", "times": "MAX_HEADER_VALUE+1" }   a string repeated
//   { "$concat": [ ... ] }                               strings joined
//   { "$list": item, "times": n }                        an array; "{i}" in the item's strings becomes the index
//   { "$entries": [key, value], "times": n }             an object; "{i}" as above
//   { "$daysFromNow": n }                                an ISO date-time n days from now
// `times` and `$daysFromNow` take a number or an expression (+ - * / and parentheses, / rounding down) over the
// constants below: the MAX_* limits of src/mail/mail-request.ts, MAX_MESSAGE_BYTES (this harness's setting) and
// MAX_REQUEST_BYTES (the request body limit that follows from it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MAX_ATTACHMENTS,
  MAX_CUSTOM_HEADER_BYTES,
  MAX_CUSTOM_HEADERS,
  MAX_HEADER_VALUE,
  MAX_RECIPIENTS,
  MAX_REPLY_TO,
  MAX_SCHEDULE_DAYS,
} from '../src/mail/mail-request';
import { maxRequestBytes } from '../src/intake/accept-mail';
import { queueLength, startHarness, type Harness } from './support/harness';
import { createHash } from 'node:crypto';
import { LOCAL_FABRIKAM_SENDER, LOCAL_SENDER, LOCAL_TENANT_ID } from '../sandbox/stack';

const CORPUS_DIR = join(__dirname, '..', '..', 'test', 'corpus');
/** Small, so the 413 cases stay small: the request limit is this in base64 plus 1 MiB. */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** A refusal is answered at once; a case that takes longer points at work that grows with the input. */
const CASE_BUDGET_MS = 5_000;

const CONSTANTS: Record<string, number> = {
  MAX_RECIPIENTS,
  MAX_REPLY_TO,
  MAX_ATTACHMENTS,
  MAX_SCHEDULE_DAYS,
  MAX_CUSTOM_HEADERS,
  MAX_CUSTOM_HEADER_BYTES,
  MAX_HEADER_VALUE,
  MAX_MESSAGE_BYTES,
  MAX_REQUEST_BYTES: maxRequestBytes(MAX_MESSAGE_BYTES),
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Case {
  name: string;
  class: string;
  request: { body?: Json; raw?: Json; headers?: Record<string, Json> };
  expect: { status: number; fields?: Json[] };
  file: string;
}

/** Evaluates "NAME", "NAME+1", "MAX_CUSTOM_HEADER_BYTES-16*(5+MAX_HEADER_VALUE)-2" and the like. */
function evaluate(expression: Json): number {
  if (typeof expression === 'number') return expression;
  if (typeof expression !== 'string') throw new Error(`not a count: ${JSON.stringify(expression)}`);
  const tokens = expression.match(/\d+|[A-Z_][A-Z0-9_]*|[-+*/()]|\S/g) ?? [];
  let at = 0;
  const next = () => tokens[at++];
  const factor = (): number => {
    const token = next();
    if (token === '(') {
      const value = sum();
      if (next() !== ')') throw new Error(`missing ")" in ${expression}`);
      return value;
    }
    if (token !== undefined && /^\d+$/.test(token)) return Number(token);
    if (token !== undefined && token in CONSTANTS) return CONSTANTS[token];
    throw new Error(`unknown ${JSON.stringify(token)} in ${expression}`);
  };
  const product = (): number => {
    let value = factor();
    while (tokens[at] === '*' || tokens[at] === '/') value = next() === '*' ? value * factor() : Math.floor(value / factor());
    return value;
  };
  const sum = (): number => {
    let value = product();
    while (tokens[at] === '+' || tokens[at] === '-') value = next() === '+' ? value + product() : value - product();
    return value;
  };
  const value = sum();
  if (at !== tokens.length) throw new Error(`unexpected ${tokens[at]} in ${expression}`);
  return value;
}

/** Expands the templates in a case's value; "{i}" in strings becomes `index` inside $list and $entries. */
function expand(value: Json, index?: number): Json {
  if (typeof value === 'string') return index === undefined ? value : value.replaceAll('{i}', String(index));
  if (Array.isArray(value)) return value.map((item) => expand(item, index));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  const directive = keys.find((key) => key.startsWith('$'));
  const times = () => {
    const n = evaluate(value.times);
    if (!Number.isInteger(n) || n < 0) throw new Error(`times must be a whole number: ${n}`);
    return n;
  };
  const text = (item: Json) => {
    const expanded = expand(item, index);
    if (typeof expanded !== 'string') throw new Error(`not a string: ${JSON.stringify(item)}`);
    return expanded;
  };
  switch (directive) {
    case undefined:
      // Object.fromEntries defines own properties, so "__proto__" stays a key and never becomes the prototype.
      return Object.fromEntries(keys.map((key) => [key, expand(value[key], index)]));
    case '$repeat':
      return text(value.$repeat).repeat(times());
    case '$concat':
      return (value.$concat as Json[]).map(text).join('');
    case '$list':
      return Array.from({ length: times() }, (_, i) => expand(value.$list, i));
    case '$entries': {
      const [key, item] = value.$entries as [Json, Json];
      return Object.fromEntries(Array.from({ length: times() }, (_, i) => [text(expand(key, i)), expand(item, i)]));
    }
    case '$daysFromNow':
      return new Date(Date.now() + evaluate(value.$daysFromNow) * 86_400_000).toISOString();
    default:
      throw new Error(`unknown template ${directive}`);
  }
}

function loadCorpus(): Case[] {
  const files = readdirSync(CORPUS_DIR)
    .filter((file) => file.endsWith('.jsonl'))
    .sort();
  return files.flatMap((file) =>
    readFileSync(join(CORPUS_DIR, file), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line, i) => {
        try {
          return { ...(JSON.parse(line) as Omit<Case, 'file'>), file: `${file}:${i + 1}` };
        } catch (error) {
          throw new Error(`${file}:${i + 1}: ${(error as Error).message}`, { cause: error });
        }
      }),
  );
}

/** The body exactly as sent, and the headers as a server sees them (non-ASCII arrives as UTF-8 bytes, read as Latin-1). */
function requestOf(c: Case): { body: string; headers: Record<string, string> } {
  const { body, raw, headers = {} } = c.request;
  if ((body === undefined) === (raw === undefined)) throw new Error(`${c.file}: give exactly one of body and raw`);
  const text = raw !== undefined ? expand(raw) : JSON.stringify(expand(body!));
  if (typeof text !== 'string') throw new Error(`${c.file}: raw must be a string`);
  const wire = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => {
      const expanded = expand(value);
      if (typeof expanded !== 'string') throw new Error(`${c.file}: header ${name} must be a string`);
      return [name.toLowerCase(), Buffer.from(expanded, 'utf8').toString('latin1')];
    }),
  );
  return { body: text, headers: wire };
}

const corpus = loadCorpus();

let h: Harness;
before(async () => {
  // The harness posts with ?code=test-key: that key is the caller, allowed every sender the function-key caller is.
  const callers = [
    {
      name: 'corpus',
      keySha256: createHash('sha256').update('test-key').digest('hex'),
      senders: [LOCAL_SENDER, '@contoso.example', LOCAL_FABRIKAM_SENDER, '@fabrikam.example'],
      defaultSender: LOCAL_SENDER,
    },
    { name: 'apps', entraRole: 'Mail.Send', senders: [LOCAL_SENDER] },
  ];
  h = await startHarness({
    mode: 'clientSecret',
    settings: {
      MAIL_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
      MAIL_CALLERS: JSON.stringify(callers),
      MAIL_API_AUDIENCE: 'api://exo-mailer-corpus',
      MAIL_API_TENANT_ID: LOCAL_TENANT_ID,
    },
  });
});
after(async () => h?.close());

test('the corpus is well formed: at least 250 cases, unique names, an expected refusal, fields for every 400', () => {
  assert.ok(corpus.length >= 250, `${corpus.length} cases`);
  const names = new Set<string>();
  for (const c of corpus) {
    assert.ok(c.name && c.class, `${c.file}: name and class`);
    assert.ok(!names.has(c.name), `${c.file}: the name "${c.name}" is used twice`);
    names.add(c.name);
    assert.ok([400, 401, 403, 413, 415, 422].includes(c.expect?.status), `${c.file}: expected status ${c.expect?.status}`);
    if (c.expect.status === 400)
      assert.ok(Array.isArray(c.expect.fields) && c.expect.fields.length > 0, `${c.file}: a 400 names its fields`);
    const { body } = requestOf(c);
    // A reserved key written in the case must survive into the body sent (JSON.parse/stringify keep own "__proto__").
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      if (JSON.stringify(c.request).includes(`"${key}"`)) assert.ok(body.includes(`"${key}"`), `${c.file}: ${key} lost on the way`);
    }
  }
});

const byStatus = new Map<number, number>();
const outcomes: Array<{ name: string; status: number; ms: number }> = [];

for (const c of corpus) {
  test(c.name, async () => {
    const { body, headers } = requestOf(c);
    const started = performance.now();
    const response = await h.post(body, headers);
    const ms = performance.now() - started;
    outcomes.push({ name: c.name, status: response.status, ms });
    byStatus.set(response.status, (byStatus.get(response.status) ?? 0) + 1);
    const seen = JSON.stringify(response.json)?.slice(0, 600);
    if (process.env.CORPUS_VERBOSE)
      console.log(
        `${c.name} → ${response.status} ${response.json?.title}: ${JSON.stringify(response.json?.errors ?? response.json?.detail).slice(0, 300)}`,
      );
    assert.equal(response.status, c.expect.status, `${c.file} (${c.class}): got ${response.status} ${seen}`);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    assert.equal(response.json.status, c.expect.status);
    assert.equal(response.headers.get('location'), null, 'a refusal has no status URL');
    if (c.expect.status === 401) assert.equal(response.headers.get('www-authenticate'), 'Bearer');
    if (c.expect.fields) {
      const expected = [...new Set((c.expect.fields ?? []).map((field) => expand(field)))].sort();
      const actual = [...new Set((response.json.errors ?? []).map((e: { field: string }) => e.field))].sort();
      assert.deepEqual(actual, expected, `${c.file} (${c.class}): fields named ${seen}`);
    }
    assert.ok(ms < CASE_BUDGET_MS, `${c.file}: answered in ${Math.round(ms)} ms (budget ${CASE_BUDGET_MS} ms)`);
  });
}

test('nothing was queued, recorded or sent', async () => {
  const counts = (key: (c: Case) => string | number) =>
    Object.fromEntries([...corpus.reduce((m, c) => m.set(key(c), (m.get(key(c)) ?? 0) + 1), new Map<string | number, number>())].sort());
  console.log(`bad-input corpus: ${corpus.length} cases`);
  console.log(`  expected by status: ${JSON.stringify(counts((c) => c.expect.status))}`);
  console.log(`  answered by status: ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);
  console.log(`  by class: ${JSON.stringify(counts((c) => c.class))}`);
  const slowest = [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 3);
  console.log(`  slowest: ${slowest.map((o) => `${o.name} ${Math.round(o.ms)} ms`).join('; ')}`);
  const records: string[] = [];
  for await (const entity of h.runtime.storage.table(h.config.statusTable).listEntities()) records.push(entity.rowKey!);
  const blobs: string[] = [];
  for await (const blob of h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer).listBlobsFlat()) blobs.push(blob.name);
  const left = {
    queued: await queueLength(h.runtime),
    poisoned: await queueLength(h.runtime, `${h.config.queueName}-poison`),
    statusRecords: records,
    payloadBlobs: blobs,
    smtpMessages: h.stack.smtp.messages.length,
    smtpConnections: h.stack.smtp.connections.length,
  };
  assert.deepEqual(left, { queued: 0, poisoned: 0, statusRecords: [], payloadBlobs: [], smtpMessages: 0, smtpConnections: 0 });
  assert.equal(outcomes.length, corpus.length, 'every case was sent');
});
