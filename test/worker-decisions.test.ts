// The worker's decisions, one branch of processMessage per test, against in-memory dependencies
// (test/fakes/worker.ts). The real-server suites (delivery, faults, send-pipeline, worker-crash) cover the wiring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processMessage, RetryLaterError } from '../src/delivery/process-message';
import { ThrottledError } from '../src/smtp/smtp-sender';
import type { StatusRecord } from '../src/status/status-store';
import type { Envelope } from '../src/mail/envelope';
import { envelopeIdentity } from '../src/mail/canonical';
import { FAKE_MAX_MESSAGE_BYTES, fakeWorld, smtpError, TEST_POLICY } from './fakes/worker';
import { maxComposedBytes, maxRequestBytes } from '../src/mail/message-size';

type World = ReturnType<typeof fakeWorld>;

const ID = 'm-1';
const BLOB = `${ID}.json`;
const MAIL = { from: 'noreply@contoso.example', to: ['a@example.com', 'b@example.com'], subject: 's', text: 'x' };
const BUSY = '451 4.7.500 Server busy. Please try again later.';
const QUOTA = '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message';
const AUTH = '535 5.7.3 Authentication unsuccessful';

const iso = (ms: number) => new Date(ms).toISOString();
const envelope = (w: World, extra: Record<string, unknown> = {}) => ({
  version: 1,
  id: ID,
  createdAt: iso(w.clock.ms),
  mail: MAIL,
  ...extra,
});
const byBlob = (w: World) => envelope(w, { mail: undefined, mailBlob: BLOB });
const run = (w: World, item: unknown, dequeueCount = 1) => processMessage(item, { dequeueCount, maxDequeueCount: 5 }, w.deps);
const record = (w: World) => w.status.record(ID)!;

/** A record as intake or an earlier attempt left it. */
function seed(w: World, fields: Partial<StatusRecord>) {
  const at = iso(w.clock.ms);
  w.status.put({
    id: ID,
    status: 'queued',
    attempts: 0,
    createdAt: at,
    updatedAt: at,
    enqueuedAt: at,
    sender: MAIL.from,
    recipientCount: 2,
    ...fields,
  });
}

test('malformed message: logged once, not retried, and no record touched, whatever id it names', async () => {
  const w = fakeWorld();
  seed(w, { status: 'deferred', attempts: 1, nextAttemptAt: iso(w.clock.ms + 60_000) });
  const before = structuredClone(record(w));
  await run(w, { version: 99, id: ID, mail: {} });
  assert.equal(w.log.lines.filter((l) => l.includes('malformed outbox message')).length, 1);
  assert.deepEqual(record(w), before, 'the record of the id it names is left as it was');
  assert.equal(w.smtp.sent.length + w.outbox.requeued.length, 0);
  await run(w, { version: 99, id: 'unknown' });
  assert.equal(w.status.rows.size, 1, 'an id nobody knows leaves nothing behind');
});

for (const final of ['sent', 'failed'] as const) {
  test(`already ${final}: a late copy sends nothing, reads no payload, and deletes the payload blob`, async () => {
    const w = fakeWorld();
    seed(w, { status: final, attempts: 1 });
    await run(w, byBlob(w));
    assert.equal(record(w).status, final);
    assert.deepEqual(w.status.updates, []);
    assert.deepEqual(w.outbox.loaded, []);
    assert.deepEqual(w.outbox.deleted, [BLOB]);
    assert.equal(w.smtp.sent.length, 0);
    assert.ok(w.log.lines.some((l) => l.includes(`${ID} is already ${final}`)));
  });
}

const badPayloads: Array<[string, string | undefined, RegExp]> = [
  ['missing', undefined, /^payload blob m-1\.json does not exist$/],
  ['not JSON', '{"from":', /^payload blob m-1\.json is not JSON$/],
  ['invalid', JSON.stringify({ ...MAIL, to: 'nope' }), /^mailBlob:to/],
  [
    'with a member given twice',
    '{"from":"noreply@contoso.example","to":"a@example.com","to":"b@example.com","subject":"s","text":"x"}',
    /^mailBlob:to: given twice/,
  ],
];
for (const [what, blob, hint] of badPayloads) {
  test(`payload blob ${what}: failed as malformed at once, the blob removed, nothing sent`, async () => {
    const w = fakeWorld(blob === undefined ? {} : { [BLOB]: blob });
    await run(w, byBlob(w));
    assert.equal(record(w).status, 'failed');
    assert.equal(record(w).errorCategory, 'malformed');
    assert.match(record(w).hint!, hint);
    assert.deepEqual(w.outbox.deleted, [BLOB]);
    assert.equal(w.smtp.sent.length + w.outbox.requeued.length, 0);
  });
}

test('claimed by another copy: back on the queue until the claim lapses, the record untouched', async () => {
  const w = fakeWorld();
  seed(w, { status: 'sending', attempts: 1, claimUntil: iso(w.clock.ms + 30_000) });
  await run(w, envelope(w));
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [31_000],
  );
  assert.deepEqual(w.status.updates, []);
  assert.equal(w.smtp.sent.length, 0);
});

test("a lapsed claim (a crashed worker's) is taken over: sent, the attempt counted", async () => {
  const w = fakeWorld();
  seed(w, { status: 'sending', attempts: 1, claimUntil: iso(w.clock.ms - 1) });
  await run(w, envelope(w));
  assert.equal(record(w).status, 'sent');
  assert.equal(record(w).attempts, 2);
});

test('scheduled: back on the queue until just before sendAt, queue first, the record deferred to then', async () => {
  const w = fakeWorld();
  const sendAt = iso(w.clock.ms + 600_000);
  await run(w, envelope(w, { mail: { ...MAIL, sendAt } }));
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [598_000],
    'it comes back 2 s early and waits the rest in process',
  );
  assert.equal(record(w).status, 'deferred');
  assert.equal(record(w).nextAttemptAt, sendAt);
  assert.equal(record(w).attempts, 0);
  assert.equal(w.smtp.sent.length, 0);

  // Queue first, record second: when the record cannot be written the copy is already on the queue.
  const v = fakeWorld();
  v.status.failNext.update = new Error('503 ServerBusy');
  await assert.rejects(run(v, envelope(v, { mail: { ...MAIL, sendAt: iso(v.clock.ms + 600_000) } })), /ServerBusy/);
  assert.equal(v.outbox.requeued.length, 1);
});

test('deferred and not yet due: back on the queue for the rest of the wait; due within the turn wait: waits in process, then sent', async () => {
  const w = fakeWorld();
  seed(w, { status: 'deferred', attempts: 1, nextAttemptAt: iso(w.clock.ms + 20_000) });
  await run(w, envelope(w));
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [18_000],
  );
  assert.equal(w.smtp.sent.length, 0);

  w.clock.ms += 18_000;
  await run(w, envelope(w));
  assert.deepEqual(w.sleeps, [2_000]);
  assert.equal(record(w).status, 'sent');
});

test('an early copy of a deferred message: back on the queue, and no record write, which would change nothing', async () => {
  const w = fakeWorld();
  seed(w, { status: 'deferred', attempts: 1, nextAttemptAt: iso(w.clock.ms + 20_000) });
  w.clock.ms += 5_000;
  await run(w, envelope(w));
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [13_000],
  );
  assert.deepEqual(w.status.updates, []);
  assert.equal(record(w).nextAttemptAt, iso(w.clock.ms + 15_000));
});

test('a message sent at the first try: its record read once and written twice (claim, outcome), with the etags it got', async () => {
  const w = fakeWorld();
  seed(w, {});
  await run(w, envelope(w));
  assert.equal(record(w).status, 'sent');
  assert.equal(w.status.reads, 1);
  assert.deepEqual(
    w.status.updates.map((u) => u.status),
    ['sending', 'sent'],
  );
});

test('sender not allowed: failed at once, no attempt, nothing sent', async () => {
  const w = fakeWorld();
  await run(w, envelope(w, { mail: { ...MAIL, from: 'ceo@elsewhere.example' } }));
  assert.equal(record(w).status, 'failed');
  assert.equal(record(w).errorCategory, 'sender-not-allowed');
  assert.match(record(w).hint!, /ceo@elsewhere\.example/);
  assert.equal(record(w).attempts, 0);
  assert.equal(w.smtp.sent.length, 0);
});

test('sent with some recipients rejected: the record made for a direct producer holds the outcome, the claim gone', async () => {
  const w = fakeWorld();
  w.smtp.script.push({ accepted: ['a@example.com'], rejected: ['b@example.com'], response: '250 2.0.0 OK queued' });
  await run(w, envelope(w));
  const claim = w.status.updates[0];
  assert.deepEqual([claim.status, claim.attempts, claim.claimUntil], ['sending', 1, iso(w.clock.ms + 60_000)]);
  const sent = record(w);
  assert.equal(sent.status, 'sent');
  assert.equal(sent.attempts, 1);
  assert.equal(sent.recipientCount, 2);
  assert.deepEqual([sent.accepted, sent.rejected], [['a@example.com'], ['b@example.com']]);
  assert.equal(sent.errorCategory, 'some-recipients-rejected');
  assert.equal(sent.smtpMessageId, '<m-1@contoso.example>');
  assert.deepEqual([sent.lastReplyCode, sent.lastReplyText], [250, '250 2.0.0 OK queued']);
  assert.equal(sent.claimUntil, undefined);
  assert.deepEqual(
    w.smtp.sent.map((s) => s.mailbox),
    ['noreply@contoso.example'],
  );
});

test('sent from a payload blob after an earlier failure: the blob removed, the old error cleared', async () => {
  const w = fakeWorld({ [BLOB]: JSON.stringify(MAIL) });
  seed(w, { status: 'deferred', attempts: 1, errorCategory: 'temporary-reply', hint: 'try later', nextAttemptAt: iso(w.clock.ms) });
  await run(w, byBlob(w));
  assert.equal(record(w).status, 'sent');
  assert.equal(record(w).attempts, 2);
  assert.deepEqual([record(w).errorCategory, record(w).hint, record(w).nextAttemptAt], [undefined, undefined, undefined]);
  assert.deepEqual(w.outbox.deleted, [BLOB]);
});

test('permanent failure: failed after one attempt with the reply, never requeued', async () => {
  const w = fakeWorld();
  const reply = '554 5.2.252 SendAsDenied; noreply@contoso.example not allowed to send as other';
  w.smtp.script.push(smtpError(reply));
  await run(w, envelope(w));
  assert.equal(record(w).status, 'failed');
  assert.equal(record(w).errorCategory, 'send-as-denied');
  assert.deepEqual([record(w).attempts, record(w).lastReplyCode, record(w).lastReplyText], [1, 554, reply]);
  assert.equal(record(w).claimUntil, undefined);
  assert.equal(w.outbox.requeued.length, 0);
  assert.ok(w.log.lines.some((l) => l.startsWith('error Permanent failure: message m-1 [send-as-denied]')));
});

test('temporary failure: deferred by the backoff of its attempt count, each attempt counted', async () => {
  const w = fakeWorld();
  w.smtp.script.push(smtpError(BUSY), smtpError(BUSY));
  await run(w, envelope(w));
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [8_000],
  );
  const deferred = record(w);
  assert.deepEqual(
    [deferred.status, deferred.attempts, deferred.errorCategory, deferred.lastReplyCode],
    ['deferred', 1, 'temporary-restriction', 451],
  );
  assert.equal(deferred.nextAttemptAt, iso(w.clock.ms + 10_000));
  assert.equal(deferred.claimUntil, undefined);

  w.clock.ms += 10_000;
  await run(w, w.outbox.requeued[0].envelope);
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [8_000, 18_000],
  );
  assert.equal(record(w).attempts, 2);
});

test('out of attempts: the last temporary failure is final, with how many attempts were made', async () => {
  const w = fakeWorld();
  seed(w, { status: 'deferred', attempts: 2, nextAttemptAt: iso(w.clock.ms) });
  w.smtp.script.push(smtpError(BUSY));
  await run(w, envelope(w));
  assert.equal(record(w).status, 'failed');
  assert.equal(record(w).attempts, 3);
  assert.match(record(w).hint!, /^Gave up after 3 attempts\. /);
  assert.equal(record(w).nextAttemptAt, undefined);
  assert.equal(w.outbox.requeued.length, 0);
});

test('quota reply: deferred for the quota wait, the attempt given back', async () => {
  const w = fakeWorld();
  seed(w, { status: 'deferred', attempts: 1, nextAttemptAt: iso(w.clock.ms) });
  w.smtp.script.push(smtpError(QUOTA));
  await run(w, envelope(w));
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [3_598_000],
  );
  assert.deepEqual([record(w).status, record(w).attempts, record(w).errorCategory], ['deferred', 1, 'daily-quota']);
});

test('throttled by our own governor: deferred for its retry-after (plus up to half), not counted, not a warning', async () => {
  const w = fakeWorld();
  w.smtp.script.push(new ThrottledError('connection-slots', 4_000));
  await run(w, envelope(w));
  assert.equal(w.outbox.requeued.length, 1);
  const wait = Date.parse(record(w).nextAttemptAt!) - w.clock.ms;
  assert.ok(wait >= 4_000 && wait <= 6_000, String(wait));
  assert.ok(Math.abs(w.outbox.requeued[0].delayMs - (wait - 2_000)) < 1, 'back 2 s early, the rest waited in process');
  assert.deepEqual([record(w).status, record(w).attempts, record(w).errorCategory], ['deferred', 0, 'connection-slots']);
  assert.ok(w.log.lines.some((l) => l.startsWith('log Deferred message m-1')));
  assert.ok(!w.log.lines.some((l) => l.startsWith('warn')));
});

test('too old: a deferral past the maximum age fails it; a temporary failure still retries', async () => {
  const w = fakeWorld();
  const old = iso(w.clock.ms - 49 * 3_600_000);
  w.smtp.script.push(smtpError(QUOTA));
  await run(w, envelope(w, { createdAt: old }));
  assert.equal(record(w).status, 'failed');
  assert.equal(record(w).errorCategory, 'daily-quota');
  assert.match(record(w).hint!, /^Still deferred after 48 h\. /);

  const v = fakeWorld();
  v.smtp.script.push(smtpError(BUSY));
  await run(v, envelope(v, { createdAt: old }));
  assert.equal(v.status.record(ID)!.status, 'deferred');
});

test('re-authentication: once with a fresh token and a new connection; refused again → permanent', async () => {
  const w = fakeWorld();
  w.smtp.script.push(smtpError(AUTH), smtpError(AUTH));
  await run(w, envelope(w));
  assert.deepEqual(w.tokens.requests, [false, true]);
  assert.deepEqual(w.smtp.resets, ['noreply@contoso.example']);
  assert.equal(w.smtp.sent.length, 2);
  assert.deepEqual([record(w).status, record(w).errorCategory, record(w).attempts], ['failed', 'authentication-failed', 1]);
  assert.match(record(w).hint!, /New-ServicePrincipal/);
  assert.equal(w.outbox.requeued.length, 0);

  const v = fakeWorld();
  v.smtp.script.push(smtpError(AUTH));
  await run(v, envelope(v));
  assert.deepEqual([v.status.record(ID)!.status, v.status.record(ID)!.attempts], ['sent', 1]);
});

test('storage error: rethrown for the host to retry; at the last dequeue the record says poisoned, with no next attempt', async () => {
  const w = fakeWorld();
  seed(w, { status: 'deferred', attempts: 1, nextAttemptAt: iso(w.clock.ms + 60_000) });
  const outage = Object.assign(new Error('QueueNotFound: the queue does not exist'), { statusCode: 404 });
  w.outbox.requeueError = outage;
  await assert.rejects(run(w, envelope(w), 4), (error) => error === outage);
  assert.equal(record(w).status, 'deferred');

  await assert.rejects(run(w, envelope(w), 5), (error) => error === outage);
  assert.equal(record(w).status, 'failed');
  assert.equal(record(w).errorCategory, 'poisoned');
  assert.match(record(w).hint!, /^Moved to the poison queue after repeated errors: QueueNotFound/);
  assert.equal(record(w).nextAttemptAt, undefined, 'a failed record promises no next attempt');

  assert.equal(w.status.reads, 2, 'one read per copy; the poison mark goes on the version the worker holds');

  const v = fakeWorld();
  v.status.failNext.get = new Error('503 ServerBusy');
  await assert.rejects(run(v, envelope(v)), /ServerBusy/);
  assert.equal(v.smtp.sent.length, 0);
});

test('claim conflict: another copy claimed it first → RetryLaterError, nothing sent', async () => {
  const w = fakeWorld();
  seed(w, { status: 'queued' });
  w.status.before = (op) => {
    w.status.before = undefined;
    if (op === 'update') w.status.put({ ...record(w), status: 'sending', attempts: 1, claimUntil: iso(w.clock.ms + 60_000) });
  };
  await assert.rejects(run(w, envelope(w)), RetryLaterError);
  assert.equal(w.smtp.sent.length, 0);
  assert.equal(record(w).attempts, 1);
});

test('the record moved meanwhile: creation and the outcome use the latest version instead', async () => {
  const w = fakeWorld();
  // Intake records the message between the worker's read and its create; later it confirms the enqueue
  // while the message is being sent.
  w.status.before = (op) => {
    if (op === 'create') seed(w, { requestHash: 'h' });
  };
  w.smtp.script.push({ response: '250 OK' });
  const send = w.smtp.send.bind(w.smtp);
  w.smtp.send = async (mailbox, message) => {
    w.status.put({ ...record(w), enqueuedAt: iso(w.clock.ms + 1) });
    return send(mailbox, message);
  };
  await run(w, envelope(w));
  assert.equal(record(w).status, 'sent');
  assert.equal(record(w).requestHash, 'h');
  assert.equal(record(w).enqueuedAt, iso(w.clock.ms + 1));
});

test('a deferral that lost its race to another copy finishing the message leaves the record final', async () => {
  const w = fakeWorld();
  seed(w, {});
  w.smtp.script.push(smtpError(BUSY));
  const send = w.smtp.send.bind(w.smtp);
  w.smtp.send = async (mailbox, message) => {
    w.status.put({ ...record(w), status: 'sent', claimUntil: undefined, lastReplyCode: 250 });
    return send(mailbox, message);
  };
  await run(w, envelope(w));
  assert.equal(w.outbox.requeued.length, 1, 'queued again first; that copy will find the record final');
  assert.deepEqual([record(w).status, record(w).lastReplyCode], ['sent', 250]);
});

// A message composed at intake: the queue message carries its blob and SMTP envelope, the worker streams the blob.
const EML = `${ID}.eml`;
const RAW = 'From: noreply@contoso.example\r\nTo: a@example.com\r\nSubject: s\r\n\r\nx\r\n';
const byMime = (w: World, extra: Record<string, unknown> = {}) =>
  envelope(w, { mail: undefined, mime: { blob: EML, from: MAIL.from, to: MAIL.to, ...extra } });

test('composed message: sent from its blob with the envelope it names, the blob read once and removed', async () => {
  const w = fakeWorld({ [EML]: RAW });
  await run(w, byMime(w));
  assert.equal(record(w).status, 'sent');
  assert.deepEqual(w.outbox.loaded, [EML]);
  assert.deepEqual(w.smtp.sent[0].message.envelope, { from: MAIL.from, to: MAIL.to });
  assert.deepEqual(w.outbox.deleted, [EML]);
  assert.equal(record(w).recipientCount, 2);
});

test('composed message, re-authentication: the second attempt reads the blob afresh (a stream is read once)', async () => {
  const w = fakeWorld({ [EML]: RAW });
  w.smtp.script.push(smtpError(AUTH));
  await run(w, byMime(w));
  assert.equal(record(w).status, 'sent');
  assert.deepEqual(w.outbox.loaded, [EML, EML]);
  const [first, second] = w.smtp.sent.map((s) => s.message.raw);
  assert.notEqual(first, second);
});

test('composed message: a missing blob fails as malformed at once; a scheduled one is not read before it is due', async () => {
  const w = fakeWorld();
  await run(w, byMime(w));
  assert.deepEqual([record(w).status, record(w).errorCategory], ['failed', 'malformed']);
  assert.match(record(w).hint!, /m-1\.eml does not exist/);
  assert.equal(w.smtp.sent.length + w.outbox.requeued.length, 0);

  const v = fakeWorld({ [EML]: RAW });
  await run(v, byMime(v, { sendAt: iso(v.clock.ms + 600_000) }));
  assert.equal(v.status.record(ID)!.status, 'deferred');
  assert.deepEqual(v.outbox.loaded, []);
});

test("composed message: a blob that is not this message's own, or a sender not allowed, is never read", async () => {
  for (const blob of ['other.eml', '../m-1.eml', 'm-1.json']) {
    const w = fakeWorld({ [blob]: RAW });
    seed(w, { payloadBlob: EML }); // as intake left it
    await run(w, envelope(w, { mail: undefined, mime: { blob, from: MAIL.from, to: MAIL.to } }));
    assert.equal(record(w).status, 'queued', `${blob}: a message that does not decode touches no record`);
    assert.deepEqual(w.outbox.loaded, []);
  }
  const v = fakeWorld({ [EML]: RAW });
  await run(v, byMime(v, { from: 'ceo@elsewhere.example' }));
  assert.deepEqual([v.status.record(ID)!.status, v.status.record(ID)!.errorCategory], ['failed', 'sender-not-allowed']);
  assert.deepEqual(v.outbox.loaded, []);
});

test('a copy arriving after a worker stopped between the final write and the callback: the callback is queued then', async () => {
  const w = fakeWorld();
  const notified: string[] = [];
  w.deps.callbacks = {
    notify: (r) => {
      notified.push(r.status);
      return Promise.resolve();
    },
  };
  seed(w, { status: 'sent', attempts: 1, callbackUrl: 'https://hooks.example.com/mail' });
  await run(w, envelope(w));
  assert.deepEqual(notified, ['sent']);
  assert.equal(w.smtp.sent.length, 0);

  // Once the callback has a state of its own (pending, delivered, failed), a late copy leaves it alone.
  seed(w, { status: 'sent', attempts: 1, callbackUrl: 'https://hooks.example.com/mail', callback: { state: 'pending', attempts: 1 } });
  await run(w, envelope(w));
  assert.deepEqual(notified, ['sent']);
});

test("a message borrowing another message's id cannot fail, send or close it; the real message is still sent", async () => {
  const w = fakeWorld();
  const notified: StatusRecord[] = [];
  w.deps.callbacks = {
    notify: (r) => {
      notified.push(r);
      return Promise.resolve();
    },
  };
  const real = envelope(w);
  seed(w, { callbackUrl: 'https://hooks.example.com/mail', envelopeHash: envelopeIdentity(real as Envelope) });
  const before = structuredClone(record(w));
  const forged = [
    { version: 99, id: ID },
    envelope(w, { mail: { ...MAIL, to: ['attacker@evil.example'], subject: 'not yours' } }),
    envelope(w, { createdAt: iso(w.clock.ms + 1) }),
    byBlob(w),
    byMime(w),
  ];
  for (const item of forged) await run(w, item);
  assert.deepEqual(record(w), before, 'the victim record is as intake left it');
  assert.deepEqual([w.smtp.sent.length, w.outbox.loaded.length, w.outbox.deleted.length, notified.length], [0, 0, 0, 0]);
  assert.equal(w.log.lines.filter((l) => l.includes('malformed outbox message')).length, forged.length);

  await run(w, real);
  assert.equal(record(w).status, 'sent');
  assert.deepEqual(w.smtp.sent[0].message.envelope, { from: MAIL.from, to: MAIL.to });
  assert.deepEqual(
    notified.map((r) => [r.id, r.status]),
    [[ID, 'sent']],
  );
});

test("a producer's message over MAIL_MAX_MESSAGE_BYTES fails as too large, once, and a blob over its bound is never read", async () => {
  const LIMIT = FAKE_MAX_MESSAGE_BYTES;
  const big = 'x'.repeat(LIMIT + 1);
  const cases: Array<[string, (w: World) => unknown, Record<string, string>, boolean, RegExp]> = [
    ['inline', (w) => envelope(w, { mail: { ...MAIL, text: big } }), {}, false, /come to \d+ bytes; MAIL_MAX_MESSAGE_BYTES is 16384/],
    ['a payload blob within its bytes', byBlob, { [BLOB]: JSON.stringify({ ...MAIL, text: big }) }, true, /come to \d+ bytes/],
    [
      'a payload blob over its bytes',
      byBlob,
      { [BLOB]: JSON.stringify({ ...MAIL, text: 'x'.repeat(maxRequestBytes(LIMIT)) }) },
      false,
      /m-1\.json is \d+ bytes; at most/,
    ],
    [
      'a composed message over its bytes',
      (w) => byMime(w),
      { [EML]: RAW + 'x'.repeat(maxComposedBytes(LIMIT)) },
      false,
      /m-1\.eml is \d+ bytes; at most/,
    ],
  ];
  for (const [what, item, blobs, read, hint] of cases) {
    const w = fakeWorld(blobs);
    await run(w, item(w));
    assert.deepEqual([record(w).status, record(w).errorCategory], ['failed', 'message-too-large'], what);
    assert.match(record(w).hint!, hint, what);
    assert.equal(w.outbox.loaded.length, read ? 1 : 0, `${what}: read ${w.outbox.loaded.length} time(s)`);
    assert.equal(w.smtp.sent.length + w.outbox.requeued.length, 0, `${what}: not sent, not retried`);
    assert.equal(w.log.lines.filter((l) => l.includes('[message-too-large]')).length, 1, what);
  }
  // At the limit exactly, as at intake, it is sent.
  const w = fakeWorld({ [BLOB]: JSON.stringify({ ...MAIL, subject: 's', text: 'x'.repeat(LIMIT - 1) }) });
  await run(w, byBlob(w));
  assert.equal(record(w).status, 'sent');
});

test('a turn far ahead: back on the queue once, until just before it, holding the turn; not claimed, a debug line only', async () => {
  const w = fakeWorld();
  const turn = w.clock.ms + 90_000;
  w.pacing.answers.push({ ok: true, at: turn });
  await run(w, envelope(w));
  assert.deepEqual(w.pacing.asked, [{ mailbox: 'noreply@contoso.example', recipients: 2 }]);
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [88_000],
  );
  const waiting = record(w);
  assert.deepEqual(
    [waiting.status, waiting.attempts, waiting.nextAttemptAt, waiting.turnAt, waiting.errorCategory],
    ['deferred', 0, iso(turn), iso(turn), 'rate-limit'],
  );
  assert.equal(w.smtp.sent.length, 0);
  assert.deepEqual(
    w.log.lines.map((l) => l.split(' ')[0]),
    ['debug'],
  );

  // Back 2 s early: it waits the rest in process and goes at its turn without asking for another.
  w.clock.ms = turn - 2_000;
  await run(w, w.outbox.requeued[0].envelope);
  assert.equal(w.pacing.asked.length, 1);
  assert.deepEqual(w.sleeps, [2_000]);
  assert.deepEqual([record(w).status, record(w).turnAt, record(w).nextAttemptAt], ['sent', undefined, undefined]);
  assert.equal(w.outbox.requeued.length, 1);
});

test("no place in the window at its turn: the schedule's next turn, not the moment the window frees; one more wait, a debug line", async () => {
  const w = fakeWorld();
  // At its turn the window has no place within the wait (messages before it came late): it frees in 7 s.
  w.smtp.script.push(new ThrottledError('rate-limit', 7_000));
  // That moment belongs to the message whose turn it is; this one takes the next turn nobody holds.
  const turn = w.clock.ms + 40_000;
  w.pacing.answers.push({ ok: true, at: w.clock.ms }, { ok: true, at: turn });
  await run(w, envelope(w));
  assert.equal(w.pacing.asked.length, 2, 'a turn, then the next one');
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [turn - w.clock.ms - 2_000],
  );
  const waiting = record(w);
  assert.deepEqual(
    [waiting.status, waiting.attempts, waiting.nextAttemptAt, waiting.turnAt, waiting.errorCategory],
    ['deferred', 0, iso(turn), iso(turn), 'rate-limit'],
  );
  assert.deepEqual(
    w.log.lines.map((l) => l.split(' ')[0]),
    ['debug'],
  );
  assert.match(w.log.lines[0], /waits for its turn at .*\[rate-limit, window\]/);

  // Back before that turn: it goes at it, without asking for another.
  w.clock.ms = turn - 2_000;
  await run(w, w.outbox.requeued[0].envelope);
  assert.equal(w.pacing.asked.length, 2);
  assert.deepEqual([record(w).status, w.outbox.requeued.length], ['sent', 1]);
});

test('held by the daily recipient limit: back on the queue until the time named, not claimed, the record says until when', async () => {
  const w = fakeWorld();
  const until = w.clock.ms + 23 * 3_600_000;
  w.pacing.answers.push({ ok: false, at: until, reason: 'daily-recipient-limit' });
  await run(w, envelope(w));
  const held = record(w);
  assert.deepEqual([held.status, held.attempts, held.nextAttemptAt, held.turnAt], ['deferred', 0, iso(until), undefined]);
  assert.equal(held.errorCategory, 'daily-recipient-limit');
  assert.ok(held.hint?.includes(iso(until)), held.hint);
  assert.deepEqual(
    w.outbox.requeued.map((r) => r.delayMs),
    [until - w.clock.ms - 2_000],
  );
  assert.equal(w.smtp.sent.length, 0);
});

test("Exchange's daily quota holds the mailbox; the tenant's external recipient limit pauses the tenant", async () => {
  const w = fakeWorld();
  const [t0, wait] = [w.clock.ms, TEST_POLICY.quotaDeferMs];
  const mailbox = 'noreply@contoso.example';
  w.smtp.script.push(
    smtpError(QUOTA),
    smtpError('550 5.7.233 Your tenant has exceeded its daily limit for sending email to external recipients'),
  );
  const item = envelope(w);
  await run(w, item);
  assert.deepEqual(w.pacing.holds, [{ mailbox, reason: 'daily-quota', until: t0 + wait }]);
  w.clock.ms = t0 + wait;
  await run(w, item);
  assert.deepEqual(w.pacing.holds[1], { mailbox, reason: 'tenant-rate-limit', until: t0 + 2 * wait });
  assert.equal(record(w).status, 'deferred');
});
