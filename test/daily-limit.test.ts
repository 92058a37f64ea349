// The daily recipient limit held before Exchange would refuse: with the limit set to 10 (Exchange's is 10,000), the
// 11th recipient of the day is held, with the time it goes, and the SMTP server never sees it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/harness';

const SENDER = 'daily@contoso.example';
let h: Harness;

before(async () => {
  h = await startHarness({ settings: { MAIL_MAX_RECIPIENTS_PER_DAY: '10' } });
});
after(() => h?.close());

async function waitForStatus(id: string, status: string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const record = (await h.runtime.status.get(id))?.record;
    if (record?.status === status) return record;
    assert.ok(Date.now() < deadline, `message ${id} not ${status}: ${JSON.stringify(record)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the 11th recipient of the day is held until the hour that makes room has left the last 24 hours; the server never sees it', async () => {
  const first = Date.now();
  // Ten recipients: four messages of one, three of two.
  const to = [['a0'], ['a1'], ['a2'], ['a3'], ['b0', 'b1'], ['c0', 'c1'], ['d0', 'd1']];
  for (const names of to) {
    const { status, json } = await h.post({ from: SENDER, to: names.map((n) => `${n}@example.com`), subject: 'today', text: 'x' });
    assert.equal(status, 202);
    assert.equal((await h.waitForFinal(json.id as string)).status, 'sent');
  }
  const { json } = await h.post({ from: SENDER, to: 'eleventh@example.com', subject: 'one too many', text: 'x' });
  const held = await waitForStatus(json.id as string, 'deferred');
  const last = Date.now();

  // The day counts whole hours: room comes back when the hour of the first sends leaves the last 24 hours.
  const until = Date.parse(held.nextAttemptAt!);
  const hourAfter = (ms: number) => (Math.floor(ms / 3_600_000) + 1) * 3_600_000 + 24 * 3_600_000;
  assert.ok(until === hourAfter(first) || until === hourAfter(last), held.nextAttemptAt);
  assert.equal(held.errorCategory, 'daily-recipient-limit');
  assert.ok(held.hint!.includes(held.nextAttemptAt!), held.hint);
  assert.equal(held.attempts, 0, 'not an attempt: nothing was sent');

  // Its status says so to the caller, and the server has the ten recipients and not the eleventh.
  const polled = await fetch(`${h.host!.url}/api/mail/${json.id}?code=k`);
  assert.equal(polled.status, 202);
  const view = (await polled.json()) as { nextAttemptAt?: string; error?: { category: string } };
  assert.deepEqual([view.nextAttemptAt, view.error?.category], [held.nextAttemptAt, 'daily-recipient-limit']);
  const received = h.stack.smtp.messages.filter((m) => m.mailbox === SENDER);
  assert.equal(received.flatMap((m) => m.rcptTo).length, 10);
  assert.ok(!h.stack.smtp.messages.some((m) => m.rcptTo.includes('eleventh@example.com')));
  assert.ok(!h.stack.smtp.connections.some((c) => c.events.some((e) => e.address === 'eleventh@example.com')), 'not even offered');
});
