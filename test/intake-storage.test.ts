// What intake writes to storage, against in-memory stand-ins: a request without an Idempotency-Key is one record
// write and one queue write; with a key, one more write confirms the enqueue so a repeat can tell queued from not.
// The real-server suites (delivery, send-pipeline) cover the same paths through Azurite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptMail, acceptMailRequest, type IntakeDeps } from '../src/intake/accept-mail';
import { functionKeyCaller } from '../src/callers/sender-policy';
import type { Envelope } from '../src/mail/envelope';
import { memoryStatusStore } from './fakes/worker';

const config = { allowedSenders: ['noreply@contoso.example'], defaultSender: 'noreply@contoso.example', maxMessageBytes: 1024 * 1024 };
const NOW = new Date('2025-03-01T10:00:00.000Z');

function world() {
  const status = memoryStatusStore();
  const outbox = {
    queued: [] as Envelope[],
    error: undefined as Error | undefined,
    enqueue(envelope: Envelope): Promise<string | undefined> {
      if (this.error) return Promise.reject(this.error);
      this.queued.push(envelope);
      return Promise.resolve(envelope.mailBlob);
    },
  };
  const deps: IntakeDeps = { config, outbox, status, now: () => NOW };
  const post = (mail: Record<string, unknown>, idempotencyKey?: string) =>
    acceptMail(
      { contentType: 'application/json', body: Buffer.from(JSON.stringify(mail)), idempotencyKey, caller: functionKeyCaller(config) },
      deps,
    );
  const accept = (request: unknown, idempotencyKey?: string) =>
    acceptMailRequest({ request, idempotencyKey, caller: functionKeyCaller(config) }, deps);
  return { status, outbox, post, accept };
}

const mail = { to: 'someone@example.com', subject: 'Hello', text: 'Hi' };

test('without a key: one record write, queued from the start, and one queue write', async () => {
  const w = world();
  const result = await w.post(mail);
  assert.equal(result.status, 202);
  const id = w.outbox.queued[0].id;
  assert.equal(w.status.reads, 0);
  assert.deepEqual(w.status.updates, [], 'no confirming update');
  assert.equal(w.status.record(id)!.enqueuedAt, NOW.toISOString());
  assert.equal(w.outbox.queued.length, 1);
});

test('without a key, a failed enqueue closes the record: failed, and no longer said to be queued', async () => {
  const w = world();
  w.outbox.error = new Error('503 ServerBusy');
  await assert.rejects(w.post(mail), /ServerBusy/);
  const [record] = [...w.status.rows.values()].map((r) => r.record);
  assert.deepEqual([record.status, record.errorCategory, record.enqueuedAt], ['failed', 'enqueue-failed', undefined]);
});

test('a large mail names its payload blob in the record from the start', async () => {
  const w = world();
  const big = { ...mail, attachments: [{ filename: 'a.bin', content: Buffer.alloc(64 * 1024).toString('base64') }] };
  assert.equal((await w.post(big)).status, 202);
  const [record] = [...w.status.rows.values()].map((r) => r.record);
  assert.equal(record.payloadBlob, `${record.id}.eml`);
  assert.deepEqual(w.status.updates, []);
});

test('a large mail whose SMTP envelope alone would not fit a queue message travels as JSON instead', async () => {
  const w = world();
  const label = 'b'.repeat(60);
  const to = Array.from({ length: 250 }, (_, i) => `${String(i).padStart(3, '0')}${'a'.repeat(57)}@${label}.${label}.${label}.example`);
  const big = { ...mail, to, attachments: [{ filename: 'a.bin', content: Buffer.alloc(64 * 1024).toString('base64') }] };
  assert.equal((await w.post(big)).status, 202);
  const [record] = [...w.status.rows.values()].map((r) => r.record);
  assert.equal(record.payloadBlob, `${record.id}.json`);
});

test('with a key: the enqueue is confirmed; a repeat queues nothing, unless the first enqueue was never confirmed', async () => {
  const w = world();
  assert.equal((await w.post(mail, 'order-1')).status, 202);
  assert.deepEqual(w.status.updates, [{ enqueuedAt: NOW.toISOString() }]);
  const repeat = await w.post(mail, 'order-1');
  assert.ok(repeat.status === 202 && repeat.repeated);
  assert.equal(w.outbox.queued.length, 1);

  // Recorded, then the queue failed: the caller comes back with the key and the message is queued then.
  const v = world();
  v.outbox.error = new Error('503 ServerBusy');
  await assert.rejects(v.post(mail, 'order-2'), /ServerBusy/);
  v.outbox.error = undefined;
  const retried = await v.post(mail, 'order-2');
  assert.ok(retried.status === 202 && !retried.repeated);
  assert.equal(v.outbox.queued.length, 1);
  assert.ok(v.status.record(v.outbox.queued[0].id)!.enqueuedAt);
});

test('a request already parsed (a hook mail) is validated, and is the same request as its bytes', async () => {
  const w = world();
  const sent = await w.post(mail, 'same-key');
  const handed = await w.accept({ ...mail }, 'same-key');
  assert.equal(sent.status, 202);
  assert.equal(handed.status, 202, 'not refused as a key reused for a different request');
  if (sent.status !== 202 || handed.status !== 202) return;
  assert.equal(handed.repeated, true);
  assert.equal(handed.record.id, sent.record.id);
  assert.equal(w.outbox.queued.length, 1);

  const refused = await w.accept({ to: 'not an address', subject: 7 });
  assert.equal(refused.status, 400);
  assert.deepEqual('errors' in refused ? refused.errors?.map((e) => e.field).sort() : [], ['subject', 'text', 'to']);
  assert.equal(w.outbox.queued.length, 1, 'nothing queued for the refused request');
});
