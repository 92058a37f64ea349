// The sandbox's chaos recipients through the product's delivery path: each magic local part ends in the outcome it
// names (refused at RCPT, deferred then sent, refused token), and bounce/delay earn a delivery report in the
// sending mailbox that the product's report parser reads as Exchange's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/harness';
import { parseDeliveryReport } from '../src/bounces/delivery-report';
import { LOCAL_SENDER } from '../sandbox/stack';

let h: Harness;
before(async () => {
  h = await startHarness({
    mode: 'clientSecret',
    stack: { reportDelayMs: 100 },
    runtime: { policy: { backoffMs: () => 200, quotaDeferMs: 1_000, claimMs: 3_000, maxAttempts: 4 } },
  });
});
after(async () => h?.close());

async function send(to: string) {
  const { status, json } = await h.post({ from: LOCAL_SENDER, to, subject: `to ${to}`, text: 'x' });
  assert.equal(status, 202);
  return { id: json.id as string, record: await h.waitForFinal(json.id as string, 20_000) };
}

/** Waits (bounded) for the sending mailbox's inbox to hold a report about `messageId`. */
async function reportAbout(messageId: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const message of h.stack.mailboxes.folder(LOCAL_SENDER, 'INBOX')!.messages) {
      const parsed = await parseDeliveryReport(message.raw);
      if ('report' in parsed && parsed.report.originalMessageIds.includes(messageId)) return { raw: message.raw, report: parsed.report };
    }
    if (Date.now() > deadline) throw new Error(`no report about ${messageId} in ${LOCAL_SENDER}'s inbox`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('reject@ → failed, permanent, with 550 5.1.10 from RCPT and no message delivered', async () => {
  const { record } = await send('reject@example.com');
  assert.equal(record.status, 'failed');
  assert.equal(record.lastReplyCode, 550);
  assert.match(record.lastReplyText ?? '', /^550 5\.1\.10 /);
  assert.equal(record.attempts, 1);
  assert.equal(h.stack.smtp.messages.filter((m) => m.rcptTo.includes('reject@example.com')).length, 0);
});

test('defer@ → 451 4.7.500 for its first two attempts, then sent once', async () => {
  const { id, record } = await send('defer@example.com');
  assert.equal(record.status, 'sent');
  assert.equal(record.attempts, 3);
  assert.equal(h.stack.smtp.messages.filter((m) => m.messageId === `<${id}@contoso.example>`).length, 1);
  const refusals = h.stack.smtp.connections.flatMap((c) => c.events).filter((e) => e.type === 'rcpt' && e.address === 'defer@example.com');
  assert.deepEqual(
    refusals.map((e) => e.reply?.slice(0, 11)),
    ['451 4.7.500', '451 4.7.500', undefined],
  );
});

test('auth-fail@ → failed as a refused token (535 5.7.3), after the one retry with a fresh token', async () => {
  const { record } = await send('auth-fail@example.com');
  assert.equal(record.status, 'failed');
  assert.equal(record.lastReplyCode, 535);
  assert.equal(record.errorCategory, 'authentication-failed');
});

test('bounce@ → sent (250), then an Exchange-style 5.1.1 NDR about that Message-ID lands in the sending mailbox', async () => {
  const { id, record } = await send('bounce@example.com');
  assert.equal(record.status, 'sent');
  const { raw, report } = await reportAbout(`<${id}@contoso.example>`);
  assert.match(raw.toString('utf8'), /^Content-Type: multipart\/report; report-type=delivery-status;/m);
  assert.match(raw.toString('utf8'), /^Content-Type: text\/rfc822-headers/m);
  assert.deepEqual(
    report.recipients.map((r) => [r.recipient, r.action, r.status]),
    [['bounce@example.com', 'failed', '5.1.1']],
  );
});

test('delay@ → sent, then a delay notice (action delayed) lands in the sending mailbox; good addresses earn none', async () => {
  const { id, record } = await send('delay@example.com');
  const good = await send('good@example.com');
  assert.equal(record.status, 'sent');
  assert.equal(good.record.status, 'sent');
  const { report } = await reportAbout(`<${id}@contoso.example>`);
  assert.deepEqual(
    report.recipients.map((r) => [r.recipient, r.action]),
    [['delay@example.com', 'delayed']],
  );
  await new Promise((r) => setTimeout(r, 300)); // thrice the report delay: a report for the good address would be in
  for (const message of h.stack.mailboxes.folder(LOCAL_SENDER, 'INBOX')!.messages) {
    const parsed = await parseDeliveryReport(message.raw);
    assert.ok('report' in parsed && !parsed.report.originalMessageIds.includes(`<${good.id}@contoso.example>`));
  }
});
