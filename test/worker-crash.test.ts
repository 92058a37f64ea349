// A worker process killed in the middle of a send: the SMTP server never answered 250, so it kept nothing;
// the message comes back, a second worker takes it over once the first one's claim lapses, and it is
// delivered exactly once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startHarness, type Harness } from './support/harness';
import { startWorker as startWorkerProcess, stopWorkers } from './support/worker';

let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'clientSecret', worker: false });
});
after(async () => {
  await stopWorkers();
  await h?.close();
});

function startWorker(name: string) {
  return startWorkerProcess(h.settings, {
    name,
    log: 'warn',
    // A claim is taken once per attempt, not renewed: it must outlast a send on a loaded machine, or the second
    // worker's own attempt lapses and the message is claimed again (a third attempt). 8 s is what the takeover waits.
    host: { maxPollingIntervalMs: 100, visibilityTimeoutMs: 0, processingVisibilityMs: 8_000 },
    policy: { claimMs: 8_000, backoffMs: 200 },
    lanes: { waitMs: 1_000, idleMs: 500 },
    leaseSeconds: 15,
  });
}

test('kill -9 during DATA: nothing is lost and the mail is delivered exactly once by another worker', async () => {
  const to = 'crash@example.com';
  // DATA stalls long enough that the kill lands inside it however slowly this machine reaches the kill (with 4 s, a
  // loaded machine let the first worker finish the send first).
  h.stack.smtp.inject({ stage: 'stallData', ms: 20_000, when: (c) => c.recipients.includes(to) });
  const first = await startWorker('first');
  const { json } = await h.post({ to, subject: 'survives a crash', text: 'x' });

  // Wait until the first worker is inside DATA, then kill it without warning.
  const deadline = Date.now() + 15_000;
  while (!h.stack.smtp.connections.some((c) => c.events.some((e) => e.type === 'rcpt' && e.address === to))) {
    assert.ok(Date.now() < deadline, 'the first worker never reached RCPT');
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200));
  first.kill('SIGKILL');
  await once(first, 'exit');
  const sending = (await h.runtime.status.get(json.id))!.record;
  assert.equal(sending.status, 'sending', 'the record shows the interrupted attempt');

  await startWorker('second');
  const record = await h.waitForFinal(json.id, 60_000);
  assert.equal(record.status, 'sent');
  assert.equal(record.attempts, 2);
  const delivered = h.stack.smtp.messages.filter((m) => m.messageId === `<${json.id}@contoso.example>`);
  assert.equal(delivered.length, 1, 'exactly once at the server');
  // The stalled reply comes due after the kill: the server finds the client gone and keeps nothing.
  const discarded = () =>
    h.stack.smtp.connections.flatMap((c) => c.events).filter((e) => e.type === 'data' && !e.ok && /client gone/.test(e.reply ?? '')).length;
  const until = Date.now() + 30_000;
  while (discarded() === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(discarded(), 1, 'the interrupted DATA was not kept');
  assert.equal(h.stack.smtp.messages.filter((m) => m.messageId === `<${json.id}@contoso.example>`).length, 1);
});
