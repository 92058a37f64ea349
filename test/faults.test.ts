// Fault injection through the real servers: every class of Exchange reply, a connection dropped
// in the middle of DATA, a failing token endpoint. Each message ends sent exactly once, or failed with its
// reason; nothing is lost and permanent failures are tried once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/harness';
import { createProcessOutboxHandler } from '../src/handlers/process-outbox';
import { createAppServices } from '../src/hosting/app-services';
import { newEnvelope } from '../src/mail/envelope';
import { InvocationContext } from '@azure/functions';
import type { SmtpFault } from '../sandbox/smtp-sink';

let h: Harness;
before(async () => {
  h = await startHarness({
    mode: 'clientSecret',
    runtime: { policy: { backoffMs: () => 200, quotaDeferMs: 1_000, claimMs: 3_000, maxAttempts: 3 } },
  });
});
after(async () => h?.close());

let n = 0;
/** Sends one mail to a fresh recipient with a fault aimed at it; returns its final record and what the server saw. */
async function sendWith(fault: SmtpFault) {
  const to = `fault${++n}@example.com`;
  const mailbox = 'noreply@contoso.example';
  // Before RCPT the recipient is unknown: faults at those stages hit the next message, which is this one.
  const early = fault.stage === 'auth' || fault.stage === 'connect' || fault.stage === 'mail';
  const when = early ? () => true : (c: { recipients: string[]; recipient?: string }) => c.recipients.includes(to) || c.recipient === to;
  // Connections are pooled per mailbox: a fault at connect or AUTH needs a new connection.
  if (fault.stage === 'auth' || fault.stage === 'connect') await h.runtime.smtp.close();
  h.stack.smtp.inject({ ...fault, when });
  const { json } = await h.post({ from: mailbox, to, subject: `fault ${n}`, text: 'x' });
  const record = await h.waitForFinal(json.id, 20_000);
  h.stack.smtp.clearFaults();
  const delivered = h.stack.smtp.messages.filter((m) => m.messageId === `<${json.id}@contoso.example>`).length;
  return { record, delivered };
}

test('451 4.7.500 (temporary) → retried, sent once, the attempt counted', async () => {
  const { record, delivered } = await sendWith({ stage: 'data', reply: '451 4.7.500 Server busy. Please try again later.' });
  assert.equal(record.status, 'sent');
  assert.equal(record.attempts, 2);
  assert.equal(delivered, 1);
});

test('432 4.3.2 at AUTH (connection limit) → retried and sent once', async () => {
  const { record, delivered } = await sendWith({ stage: 'auth', reply: '432 4.3.2 Concurrent connections limit exceeded' });
  assert.equal(record.status, 'sent');
  assert.equal(delivered, 1);
});

test('a connection dropped in the middle of DATA → retried, sent exactly once', async () => {
  const { record, delivered } = await sendWith({ stage: 'dropDuringData' });
  assert.equal(record.status, 'sent');
  assert.equal(record.attempts, 2);
  assert.equal(delivered, 1);
});

test('temporary replies that never stop → failed after maxAttempts with the last reply', async () => {
  const { record, delivered } = await sendWith({ stage: 'data', reply: '451 4.7.500 Server busy. Please try again later.', times: 100 });
  assert.equal(record.status, 'failed');
  assert.equal(record.attempts, 3);
  assert.match(record.hint ?? '', /^Gave up after 3 attempts/);
  assert.equal(record.lastReplyCode, 451);
  assert.equal(delivered, 0);
});

const permanent: Array<[string, 'auth' | 'mail' | 'data', string, RegExp]> = [
  ['554 5.2.252 SendAsDenied; noreply@contoso.example not allowed to send as other', 'data', 'send-as-denied', /SendAs/],
  [
    '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.',
    'auth',
    'smtp-auth-disabled',
    /Set-CASMailbox.*security defaults are on.*turn them off/,
  ],
  ['552 5.3.4 Message size exceeds fixed maximum message size', 'data', 'message-too-large', /size/],
  ['550 5.1.8 Access denied, bad outbound sender', 'mail', 'sender-blocked', /blocked/],
  ['554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException', 'data', 'mailbox-full', /full/],
];
for (const [reply, stage, category, hint] of permanent) {
  test(`${reply.slice(0, 30)}… (permanent) → failed once with the reply and a hint, never retried`, async () => {
    const tries = h.stack.smtp.connections.flatMap((c) => c.events).filter((e) => e.reply === reply).length;
    const { record, delivered } = await sendWith({ stage, reply, times: 10 });
    assert.equal(record.status, 'failed');
    assert.equal(record.errorCategory, category);
    assert.equal(record.attempts, 1);
    assert.equal(record.lastReplyText, reply);
    assert.match(record.hint ?? '', hint);
    assert.equal(delivered, 0);
    await new Promise((r) => setTimeout(r, 300));
    const seen = h.stack.smtp.connections.flatMap((c) => c.events).filter((e) => e.reply === reply).length - tries;
    assert.equal(seen, 1, 'the server saw the failing command exactly once');
  });
}

test('535 5.7.3 once → one retry with a freshly acquired token, then sent', async () => {
  const before = h.stack.entra.hits.tokenRequests;
  const { record, delivered } = await sendWith({ stage: 'auth', reply: '535 5.7.3 Authentication unsuccessful' });
  assert.equal(record.status, 'sent');
  assert.equal(record.attempts, 1, 'the re-authentication is part of the same attempt');
  assert.equal(h.stack.entra.hits.tokenRequests - before, 1, 'a fresh token was requested');
  assert.equal(delivered, 1);
});

test('535 5.7.3 every time → failed after exactly one retry with a fresh token, with the setup hint', async () => {
  const before = h.stack.entra.hits.tokenRequests;
  const { record, delivered } = await sendWith({ stage: 'auth', reply: '535 5.7.3 Authentication unsuccessful', times: 10 });
  assert.equal(record.status, 'failed');
  assert.equal(record.errorCategory, 'authentication-failed');
  assert.match(record.hint ?? '', /New-ServicePrincipal/);
  assert.equal(h.stack.entra.hits.tokenRequests - before, 1);
  assert.equal(delivered, 0);
});

test('quota reply → deferred without using up an attempt, then sent', async () => {
  const { record, delivered } = await sendWith({
    stage: 'data',
    reply: '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message',
  });
  assert.equal(record.status, 'sent');
  assert.equal(record.attempts, 1, 'the quota deferral gave its attempt back');
  assert.equal(delivered, 1);
});

test('a failing token endpoint → temporary; the mail goes out once it recovers', async () => {
  h.stack.entra.failNext(1, 503);
  // Make the cached token unusable so the next send must ask the endpoint.
  await h.runtime.tokens.getToken({ forceRefresh: true }).catch(() => undefined);
  h.stack.entra.failNext(1, 503);
  const { json } = await h.post({ to: 'tokenfail@example.com', subject: 'token', text: 'x' });
  const record = await h.waitForFinal(json.id);
  assert.equal(record.status, 'sent');
});

test('a message that ends in the poison queue has a failed status with the reason', async (t) => {
  // A real dependency failing for good: this runtime's outbox queue does not exist, so the worker cannot
  // put a temporarily failed message back, and throws; on the last dequeue it records why.
  const broken = createAppServices({ ...h.config, queueName: 'no-such-queue' }, { host: h.runtime.host, policy: { backoffMs: () => 200 } });
  t.after(() => broken.close());
  const handler = createProcessOutboxHandler(() => broken);
  const envelope = newEnvelope({ from: 'noreply@contoso.example', to: 'poison@example.com', subject: 'poison', text: 'x' });
  h.stack.smtp.inject({
    stage: 'data',
    reply: '451 4.7.500 Server busy',
    times: 10,
    when: (c) => c.recipients.includes('poison@example.com'),
  });
  const context = (dequeueCount: number) =>
    new InvocationContext({ functionName: 'processOutbox', triggerMetadata: { dequeueCount }, logHandler: () => undefined });
  for (let attempt = 1; attempt <= h.runtime.host.maxDequeueCount; attempt++) {
    await assert.rejects(handler(envelope, context(attempt)));
  }
  const record = (await h.runtime.status.get(envelope.id))!.record;
  assert.equal(record.status, 'failed');
  assert.equal(record.errorCategory, 'poisoned');
  assert.match(record.hint ?? '', /poison queue.*QueueNotFound|poison queue.*queue/i);
  h.stack.smtp.clearFaults();
});
