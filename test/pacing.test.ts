// The mailbox pace end to end, time-scaled: Exchange's ratios (30 messages per window, 3 connections) in a 6 s
// window instead of a minute, through the real stack (Azurite, the Exchange-like SMTP server that records when each
// message arrives, the local Functions host), with slow sends among fast ones.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_HOST, FAST_SERVICES, startHarness, type Harness } from './support/harness';
import { maxInSlidingWindow } from '../sandbox/smtp-sink';

const WINDOW_MS = 6_000;
const LIMIT = 30;
const MESSAGES = 75;
const SENDER = 'paced@contoso.example';
let h: Harness;

before(async () => {
  h = await startHarness({
    settings: { MAIL_MAX_MESSAGES_PER_MINUTE: String(LIMIT), MAIL_MAX_CONNECTIONS_PER_MAILBOX: '3' },
    // A tenth of Exchange's minute and of the time a send is assumed to take to reach the server. The wait in
    // process stays 2 s, as the queue's visibility stays in whole seconds: a message back from the queue arrives
    // up to 2 s early, never late.
    // 24 invocations at once, so the backlog runs further ahead than they can wait in process.
    runtime: {
      host: { ...FAST_HOST, batchSize: 16, newBatchThreshold: 8 },
      pace: { windowMs: WINDOW_MS, assumedSendMs: 100 },
      policy: { ...FAST_SERVICES.policy, maxTurnWaitMs: 2_000 },
    },
  });
});
after(() => h?.close());

test(`${MESSAGES} messages posted at once at ${LIMIT} per window: each goes back to the queue at most once for its turn, the server never gets more than ${LIMIT} in any window`, async (t) => {
  // Every 10th message is slow: the server holds its reply for 0.6 s, six times the assumed send time.
  h.stack.smtp.inject({ stage: 'stallData', ms: 600, times: MESSAGES, when: (c) => c.recipients.some((r) => /^slow/.test(r)) });
  const posted = await Promise.all(
    Array.from({ length: MESSAGES }, (_, i) =>
      h.post({ from: SENDER, to: `${i % 10 === 0 ? 'slow' : 'fast'}${i}@example.com`, subject: `Paced ${i}`, text: 'x' }),
    ),
  );
  const ids = posted.map((r) => (assert.equal(r.status, 202), r.json.id as string));
  const deadline = Date.now() + 120_000;
  for (const id of ids) {
    const record = await h.waitForFinal(id, Math.max(1_000, deadline - Date.now()));
    assert.equal(
      record.status,
      'sent',
      `${JSON.stringify(record)}\n${h.logs
        .filter((l) => !/^(debug|information)/.test(l))
        .slice(0, 10)
        .join('\n')}`,
    );
  }
  const times = h.stack.smtp.mailbox(SENDER).messageTimes;
  const received = h.stack.smtp.messages.filter((m) => m.mailbox === SENDER).map((m) => m.messageId);
  assert.equal(received.length, MESSAGES, 'each once');
  assert.equal(new Set(received).size, MESSAGES);

  const waits = new Map<string, number>();
  for (const line of h.logs) {
    const id = /Message (\S+) waits for its turn/.exec(line)?.[1];
    if (id) waits.set(id, (waits.get(id) ?? 0) + 1);
  }
  // A connection slot not free within its wait (a loaded machine) defers a message too; that is not the pace's.
  const deferrals = h.logs.filter((l) => /Deferred message|Held message|Will retry/.test(l) && !l.includes('[connection-slots]'));
  const peak = maxInSlidingWindow(times, WINDOW_MS);
  const pace = ((times.length - 1) / (Math.max(...times) - Math.min(...times))) * WINDOW_MS;
  t.diagnostic(
    `${waits.size} of ${MESSAGES} went back to the queue for their turn, ${[...waits.values()].filter((n) => n > 1).length} of them twice; ${deferrals.length} other deferrals; peak ${peak} in ${WINDOW_MS / 1000} s; pace ${pace.toFixed(1)} per window`,
  );
  assert.ok(peak <= LIMIT, `${peak} messages within ${WINDOW_MS} ms`);
  assert.deepEqual(deferrals.slice(0, 3), [], 'no deferral besides the waits for a turn');
  // A slow send holds its place in the window longer than the schedule assumed: a message may then find the window
  // full at its turn and take the next free time as its turn, a second wait; never more.
  assert.ok(
    [...waits.values()].every((n) => n <= 2),
    'a message goes back to the queue for its turn once, twice after slow sends',
  );
  assert.ok(waits.size > 0, 'the backlog was longer than the wait in process: some messages had to go back to the queue');
  assert.ok(!h.logs.some((l) => l.startsWith('warn') && /turn|rate/.test(l)), 'pacing is not a warning');
});
