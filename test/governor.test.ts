// The per-mailbox governor against real Azurite: several independent instances (own clients, own lease ids, as
// separate processes would have; one test uses a real second process) share one container.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ContainerClient, newPipeline, StorageSharedKeyCredential, type RequestPolicyFactory } from '@azure/storage-blob';
import { AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME, startAzurite, type Azurite } from '../sandbox/azurite';
import { createConnectionSlots, type ConnectionSlots, type Slot } from '../src/governor/connection-slots';
import { createRateLimiter } from '../src/governor/rate-limiter';
import { admit, emptyPace, hold, moveEnd, parsePace, schedule, spacing, type PaceLimits } from '../src/governor/pace';
import { maxInSlidingWindow } from '../sandbox/smtp-sink';
import { mailboxFolder } from '../src/governor/blobs';

const CONTAINER = 'governor';
let azurite: Azurite;
let containerUrl: string;

before(async () => {
  azurite = await startAzurite();
  containerUrl = `http://127.0.0.1:${azurite.blobPort}/${AZURITE_ACCOUNT_NAME}/${CONTAINER}`;
  await instance().container.create();
});
after(() => azurite?.stop());

/** A container client of its own, as another process would have, counting the storage calls it makes. */
function instance(): { container: ContainerClient; calls: () => number } {
  let calls = 0;
  const counting: RequestPolicyFactory = {
    create: (next) => ({ sendRequest: (request) => (calls++, next.sendRequest(request)) }),
  };
  const pipeline = newPipeline(new StorageSharedKeyCredential(AZURITE_ACCOUNT_NAME, AZURITE_ACCOUNT_KEY));
  pipeline.factories.unshift(counting); // ahead of the retry policy: counts operations, not attempts
  return { container: new ContainerClient(containerUrl, pipeline), calls: () => calls };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const silent = { warn: () => {} };
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function acquireAll(slots: ConnectionSlots, mailbox: string): Promise<Slot[]> {
  const held: Slot[] = [];
  for (let slot = await slots.tryAcquire(mailbox); slot; slot = await slots.tryAcquire(mailbox)) held.push(slot);
  return held;
}

describe('connection slots', () => {
  test('never more than N slots are held at once by 20 loops on 3 instances', async (t) => {
    const N = 3;
    const mailbox = 'contended@contoso.com';
    const instances = [instance(), instance(), instance()];
    const slots = instances.map(({ container }) => createConnectionSlots({ container, slotsPerMailbox: N, log: silent }));
    const heldIndexes = new Set<number>();
    let maxHeld = 0;
    let acquired = 0;
    const latencies: number[] = [];
    // Until the slots were all held at once and enough acquisitions were seen, however slow the machine; the
    // deadline only bounds a run that never gets there.
    const deadline = Date.now() + 60_000;
    const enough = () => maxHeld === N && acquired >= 60;
    await Promise.all(
      Array.from({ length: 20 }, async (_, loop) => {
        while (!enough() && Date.now() < deadline) {
          const started = performance.now();
          const slot = await slots[loop % slots.length].tryAcquire(mailbox);
          latencies.push(performance.now() - started);
          if (!slot) {
            await sleep(2 + Math.random() * 8);
            continue;
          }
          // The lease is taken before this and given back after it, so this count never exceeds the leases held.
          assert.ok(!heldIndexes.has(slot.index), `slot ${slot.index} handed out twice`);
          heldIndexes.add(slot.index);
          maxHeld = Math.max(maxHeld, heldIndexes.size);
          acquired++;
          await sleep(5);
          heldIndexes.delete(slot.index);
          await slot.release();
        }
      }),
    );
    const calls = instances.reduce((sum, i) => sum + i.calls(), 0);
    t.diagnostic(
      `max held ${maxHeld}/${N}; ${acquired} acquisitions in ${latencies.length} tryAcquire calls; ${(calls / latencies.length).toFixed(2)} storage calls per tryAcquire (incl. releases); mean tryAcquire ${mean(latencies).toFixed(1)} ms`,
    );
    assert.equal(maxHeld, N, 'contention should fill every slot');
    assert.ok(acquired >= 60, `only ${acquired} acquisitions`);
    assert.equal((await acquireAll(slots[0], mailbox)).length, N, 'all slots free after the run');
  });

  test('a released slot is free for another instance at once; the mailbox key ignores case', async (t) => {
    const N = 3;
    const a = instance();
    const b = instance();
    const slotsA = createConnectionSlots({ container: a.container, slotsPerMailbox: N });
    const slotsB = createConnectionSlots({ container: b.container, slotsPerMailbox: N });

    const first = performance.now();
    const held = await acquireAll(slotsA, 'release@contoso.com');
    const firstUse = { ms: performance.now() - first, calls: a.calls() };
    assert.deepEqual(held.map((s) => s.index).sort(), [0, 1, 2]);
    assert.equal(await slotsB.tryAcquire('Release@Contoso.COM'), undefined);

    const [given] = held.splice(1, 1);
    await given.release();
    const callsBefore = b.calls();
    const started = performance.now();
    const taken = await slotsB.tryAcquire('release@contoso.com');
    const ms = performance.now() - started;
    assert.equal(taken?.index, given.index);
    t.diagnostic(
      `first use of 3 slots (blobs created): ${firstUse.calls} calls, ${firstUse.ms.toFixed(1)} ms; acquire of an existing slot: ${b.calls() - callsBefore} calls (1 per slot tried), ${ms.toFixed(1)} ms`,
    );
    await Promise.all([taken, ...held].map((s) => s.release()));
  });

  test('a slot whose lease was broken is marked lost, and releasing it leaves the new holder alone', async () => {
    const mailbox = 'broken@contoso.com';
    const a = createConnectionSlots({
      container: instance().container,
      slotsPerMailbox: 1,
      leaseSeconds: 15,
      renewEveryMs: 100,
      log: silent,
    });
    const b = createConnectionSlots({ container: instance().container, slotsPerMailbox: 1, log: silent });
    const slot = (await a.tryAcquire(mailbox))!;
    await sleep(250);
    assert.equal(slot.lost, false, 'renewals succeed while the lease is held');
    await instance()
      .container.getBlobClient(`${mailboxFolder(mailbox)}/slot-0`)
      .getBlobLeaseClient()
      .breakLease(0);
    for (let i = 0; i < 20 && !slot.lost; i++) await sleep(50);
    assert.equal(slot.lost, true);
    const other = await b.tryAcquire(mailbox);
    assert.ok(other, 'the broken slot can be taken');
    await slot.release(); // must neither throw nor release the new holder's lease
    assert.equal(await a.tryAcquire(mailbox), undefined);
    await other.release();
  });

  describe('lease timing (leaseSeconds 15, both run at once)', { concurrency: true }, () => {
    test("a crashed process's slots free themselves after the lease expires", async (t) => {
      const N = 3;
      const mailbox = 'crashed@contoso.com';
      // A real second process takes every slot and is then killed: no release, no renewals.
      const script = `
        const { ContainerClient, StorageSharedKeyCredential } = require(${JSON.stringify(require.resolve('@azure/storage-blob'))});
        const { createConnectionSlots } = require(${JSON.stringify(join(__dirname, '../src/governor/connection-slots.js'))});
        const container = new ContainerClient(process.env.CONTAINER_URL, new StorageSharedKeyCredential(${JSON.stringify(AZURITE_ACCOUNT_NAME)}, process.env.ACCOUNT_KEY));
        const slots = createConnectionSlots({ container, slotsPerMailbox: ${N}, leaseSeconds: 15 });
        (async () => {
          const held = [];
          for (let s = await slots.tryAcquire(${JSON.stringify(mailbox)}); s; s = await slots.tryAcquire(${JSON.stringify(mailbox)})) held.push(s.index);
          console.log(JSON.stringify(held));
          setInterval(() => {}, 1000);
        })();`;
      const child = spawn(process.execPath, ['-e', script], {
        env: { ...process.env, CONTAINER_URL: containerUrl, ACCOUNT_KEY: AZURITE_ACCOUNT_KEY },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const [line] = (await once(child.stdout, 'data')) as [Buffer];
        const heldAt = Date.now();
        assert.deepEqual((JSON.parse(line.toString()) as number[]).sort(), [0, 1, 2]);
        child.kill('SIGKILL');
        await once(child, 'exit');

        const slots = createConnectionSlots({ container: instance().container, slotsPerMailbox: N, leaseSeconds: 15 });
        const freed: Slot[] = [];
        let firstFreeAfter: number | undefined;
        while (freed.length < N && Date.now() - heldAt < 20_000) {
          freed.push(...(await acquireAll(slots, mailbox)));
          if (freed.length > 0) firstFreeAfter ??= Date.now() - heldAt;
          await sleep(100);
        }
        t.diagnostic(`crashed holder's slots came free ${firstFreeAfter} ms after it took them (lease 15 s)`);
        assert.equal(freed.length, N, 'every slot of the crashed process comes free');
        assert.ok(firstFreeAfter! >= 14_000 && firstFreeAfter! <= 17_000, `first slot freed after ${firstFreeAfter} ms`);
        await Promise.all(freed.map((s) => s.release()));
      } finally {
        child.kill('SIGKILL');
      }
    });

    test('renewal keeps a held slot beyond leaseSeconds', async () => {
      const N = 3;
      const mailbox = 'renewed@contoso.com';
      const holder = createConnectionSlots({ container: instance().container, slotsPerMailbox: N, leaseSeconds: 15 });
      const other = createConnectionSlots({ container: instance().container, slotsPerMailbox: N, leaseSeconds: 15 });
      const held = await acquireAll(holder, mailbox);
      assert.equal(held.length, N);
      const heldAt = Date.now();
      while (Date.now() - heldAt < 20_000) {
        assert.equal(await other.tryAcquire(mailbox), undefined, `a slot came free ${Date.now() - heldAt} ms after it was taken`);
        await sleep(500);
      }
      assert.ok(held.every((s) => !s.lost));
      await Promise.all(held.map((s) => s.release()));
      const after = await other.tryAcquire(mailbox);
      assert.ok(after, 'free at once after release');
      await after.release();
    });
  });
});

describe('mailbox pace (pure rules, simulated time)', () => {
  const limits: PaceLimits = { maxPerMinute: 30, maxRecipientsPerDay: 1_000_000, assumedSendMs: 1_000, maxWaitMs: 5_000, windowMs: 60_000 };

  /** A seeded random source, so a failure can be replayed. */
  function random(seed: number) {
    return () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  }

  /**
   * Three connections sending back to back through the rules, as three instances would through the shared
   * document: each asks for admission, waits as told, sends for a drawn time (its message reaches the server at a
   * drawn moment of it) and keeps its end true as track() does. Events run in time order.
   */
  function simulate(duration: (rnd: () => number) => number, messages: number, seed: number) {
    const rnd = random(seed);
    const state = emptyPace();
    const arrivals: number[] = [];
    const events: Array<{ at: number; run: () => void }> = [];
    const at = (time: number, run: () => void) => events.push({ at: time, run });
    let sent = 0;
    const send = (t: number) => {
      if (sent >= messages) return;
      const answer = admit(state, 1, limits, t);
      if (!answer.ok) return at(answer.at, () => send(answer.at));
      sent++;
      // A booked place: the send starts there, no earlier.
      const start = answer.at;
      assert.ok(start >= t && start - t <= limits.maxWaitMs, `booked ${start - t} ms ahead`);
      const d = duration(rnd);
      arrivals.push(start + d * rnd());
      let recorded = answer.end;
      for (let beat = start + 20_000; beat < start + d; beat += 20_000) {
        const b = beat;
        at(b, () => (moveEnd(state, recorded, b + 60_000, limits), (recorded = b + 60_000)));
      }
      at(start + d, () => {
        if (start + d > recorded || recorded - (start + d) > 5_000) moveEnd(state, recorded, start + d, limits);
        send(start + d);
      });
    };
    for (let lane = 0; lane < 3; lane++) at(1_000_000 + lane, () => send(1_000_000 + lane));
    while (events.length > 0) {
      events.sort((a, b) => a.at - b.at);
      events.shift()!.run();
    }
    return arrivals;
  }

  test('no 60 s at the server holds more than the limit, with fast, slow and very slow sends mixed', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const arrivals = simulate(
        (rnd) => (rnd() < 0.7 ? 10 + rnd() * 200 : rnd() < 0.67 ? 1_000 + rnd() * 4_000 : 10_000 + rnd() * 80_000),
        400,
        seed,
      );
      assert.equal(arrivals.length, 400);
      assert.ok(maxInSlidingWindow(arrivals) <= 30, `seed ${seed}: ${maxInSlidingWindow(arrivals)} in one minute`);
    }
  });

  test('fast sends at the limit: at least 0.97 of it over a long run, never more in any minute', () => {
    const arrivals = simulate((rnd) => 20 + rnd() * 300, 900, 7);
    const sorted = [...arrivals].sort((a, b) => a - b);
    const perMinute = ((sorted.length - 1) / (sorted[sorted.length - 1] - sorted[0])) * 60_000;
    assert.ok(maxInSlidingWindow(arrivals) <= 30);
    assert.ok(perMinute >= 0.97 * 30, `${perMinute.toFixed(2)} a minute`);
  });

  test('a backlog: every message gets its own turn at once, and at its turn (up to 1 s late) is admitted within the wait', () => {
    const state = emptyPace();
    const t0 = 5_000_000;
    const turns = Array.from({ length: 1_000 }, () => schedule(state, 1, limits, t0));
    const at = turns.map((turn) => (assert.ok(turn.ok), turn.at));
    assert.equal(at[0], t0);
    for (let i = 1; i < at.length; i++) assert.ok(Math.abs(at[i] - at[i - 1] - spacing(limits)) < 1e-6);
    const rnd = random(11);
    const arrivals: number[] = [];
    for (const turn of at) {
      const t = turn + rnd() * 1_000; // the queue hands it over a little after its turn
      const answer = admit(state, 1, limits, t);
      assert.ok(answer.ok, `a message at its turn is refused: ${JSON.stringify(answer)}`);
      assert.ok(answer.at - t <= limits.maxWaitMs, `a message at its turn waits ${answer.at - t} ms`);
      arrivals.push(answer.at + 50);
    }
    assert.ok(maxInSlidingWindow(arrivals) <= 30);
    const perMinute = ((arrivals.length - 1) / (arrivals[arrivals.length - 1] - arrivals[0])) * 60_000;
    assert.ok(perMinute >= 0.97 * 30, `${perMinute.toFixed(2)} a minute`);
  });

  test('a backlog of 1,000 whose messages come late and whose admissions are written late: a wait for a place never passes maxWait', () => {
    // Each message comes back up to 1.5 s after its turn, and each admission is applied 100 ms after it is asked (a
    // storage write under load). An admission that only said "wait until then" and was asked again after the wait
    // would start a write later than its place, and pass that delay on to the message a window later, and on down
    // the backlog: the waits grew past maxWait and messages went back to the queue a second time.
    const state = emptyPace();
    const t0 = 7_000_000;
    const turns = Array.from({ length: 1_000 }, () => schedule(state, 1, limits, t0)).map((turn) => (assert.ok(turn.ok), turn.at));
    const rnd = random(23);
    const asks = turns.map((turn) => ({ turn, at: turn + rnd() * 1_500 + 100 })).sort((a, b) => a.at - b.at);
    const starts: number[] = [];
    let longest = 0;
    for (const ask of asks) {
      const answer = admit(state, 1, limits, ask.at);
      assert.ok(answer.ok, `refused ${JSON.stringify(answer)} at ${ask.at - ask.turn} ms after its turn`);
      longest = Math.max(longest, answer.at - ask.at);
      starts.push(answer.at);
      // The send is over within the assumed time; its end stays as booked.
    }
    const arrivals = starts.map((s) => s + 500);
    const perMinute = ((arrivals.length - 1) / (Math.max(...arrivals) - Math.min(...arrivals))) * 60_000;
    assert.ok(longest <= limits.maxWaitMs, `a message waited ${longest} ms for its place`);
    assert.ok(maxInSlidingWindow(arrivals) <= 30, `${maxInSlidingWindow(arrivals)} in one minute`);
    assert.ok(perMinute >= 0.97 * 30, `${perMinute.toFixed(2)} a minute`);
  });

  test('the daily limit: recipients beyond it are held until the hour that makes room has left the last 24 hours', () => {
    const day = { ...limits, maxRecipientsPerDay: 10 };
    const state = emptyPace();
    const t0 = Date.parse('2026-12-07T10:20:00Z');
    for (let i = 0; i < 6; i++) assert.ok(admit(state, 1, day, t0 + i * 10_000).ok);
    const t1 = Date.parse('2026-12-07T11:05:00Z');
    for (let i = 0; i < 4; i++) assert.ok(admit(state, 1, day, t1 + i * 10_000).ok);
    // 10 of 10 used: the 11th recipient waits until 10:00–11:00 has left the last 24 hours.
    assert.deepEqual(schedule(state, 1, day, t1 + 60_000), {
      ok: false,
      at: Date.parse('2026-12-08T11:00:00Z'),
      reason: 'daily-recipient-limit',
    });
    assert.deepEqual(admit(state, 1, day, t1 + 60_000), {
      ok: false,
      at: Date.parse('2026-12-08T11:00:00Z'),
      reason: 'daily-recipient-limit',
    });
    // Five recipients need 10:00–11:00 gone too (6 of them), still the same hour; seven need 11:00–12:00 gone.
    assert.equal((admit(state, 5, day, t1 + 60_000) as { at: number }).at, Date.parse('2026-12-08T11:00:00Z'));
    assert.equal((admit(state, 7, day, t1 + 60_000) as { at: number }).at, Date.parse('2026-12-08T12:00:00Z'));
    assert.ok(admit(state, 1, day, Date.parse('2026-12-08T11:00:00Z')).ok, 'room again once that hour has left the day');
  });

  test('a hold after a quota reply stops turns and admissions until it ends', () => {
    const state = emptyPace();
    hold(state, 2_000_000);
    assert.deepEqual(schedule(state, 1, limits, 1_000_000), { ok: false, at: 2_000_000, reason: 'daily-quota' });
    assert.deepEqual(admit(state, 1, limits, 1_999_999), { ok: false, at: 2_000_000, reason: 'daily-quota' });
    assert.ok(schedule(state, 1, limits, 2_000_000).ok);
  });

  test('an unreadable document is an empty pace rather than a blocked mailbox', () => {
    assert.deepEqual(parsePace('{"tat": 5}'), emptyPace());
    assert.deepEqual(parsePace('not json'), emptyPace());
    assert.deepEqual(parsePace('{"next": 7, "ends": {"12": 2, "x": 1, "13": -1}, "day": {"5": "a"}}'), {
      next: 7,
      ends: { '12': 2 },
      day: {},
    });
  });
});

describe('rate limiter (shared through Azurite)', () => {
  const MINUTE = 60_000;
  /** A limiter of its own instance, on a clock the test moves; it records the waits instead of sleeping them. */
  function paced(container: ContainerClient, clock: { ms: number }, options: { maxPerMinute: number; maxRecipientsPerDay?: number }) {
    const waits: number[] = [];
    const limiter = createRateLimiter({
      container,
      maxRecipientsPerDay: 10_000,
      ...options,
      now: () => clock.ms,
      sleep: (ms) => (waits.push(ms), (clock.ms += ms), Promise.resolve()),
    });
    return { limiter, waits };
  }

  test('40 turns asked at once on 3 instances: every turn its own, one spacing apart', async (t) => {
    const mailbox = 'rate@contoso.com';
    const clock = { ms: 1_000_000 };
    const instances = [instance(), instance(), instance()];
    const limiters = instances.map(({ container }) => paced(container, clock, { maxPerMinute: 30 }).limiter);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => limiters[i % 3].schedule(mailbox, 1)));
    const calls = instances.reduce((sum, i) => sum + i.calls(), 0);
    t.diagnostic(`40 turns: ${(calls / 40).toFixed(2)} storage calls per turn`);
    const turns = answers.map((a) => (assert.ok(a.ok), a.at)).sort((a, b) => a - b);
    const gap = spacing({ maxPerMinute: 30, assumedSendMs: 1_000, windowMs: MINUTE });
    turns.forEach((turn, k) => assert.ok(Math.abs(turn - (clock.ms + k * gap)) < 1e-6, `turn ${k} at ${turn - clock.ms} ms`));
  });

  test('admissions on 3 instances as the clock moves: never more than the limit of ends in any minute', async () => {
    const mailbox = 'moving@contoso.com';
    const clock = { ms: 5_000_000 };
    const limiters = [instance(), instance(), instance()].map(({ container }) => paced(container, clock, { maxPerMinute: 20 }).limiter);
    const admitted: number[] = [];
    for (let round = 0; round < 100; round++) {
      const answers = await Promise.all(limiters.map((l) => l.admit(mailbox, 1)));
      for (const a of answers) if (a.ok) admitted.push(a.at); // the send starts at its booked place, no earlier
      clock.ms += Math.random() * 3_000;
    }
    assert.ok(admitted.length > 20, `only ${admitted.length} admitted`);
    assert.ok(maxInSlidingWindow(admitted) <= 20, `${maxInSlidingWindow(admitted)} admitted in one minute`);
  });

  for (const maxPerMinute of [30, 10_000]) {
    test(`${maxPerMinute}/min: one write per change, a refusal from a current copy costs nothing, another instance's write one read more; the document stays small`, async (t) => {
      const mailbox = `cost-${maxPerMinute}@contoso.com`;
      const clock = { ms: 9_000_000 };
      const a = instance();
      const { limiter } = paced(a.container, clock, { maxPerMinute });
      assert.ok((await limiter.schedule(mailbox, 1)).ok);
      assert.equal(a.calls(), 2, 'first use: read (not found) and create');

      let before = a.calls();
      for (let i = 0; i < 50; i++) {
        clock.ms += spacing({ maxPerMinute, assumedSendMs: 1_000, windowMs: MINUTE });
        assert.ok((await limiter.schedule(mailbox, 1)).ok);
        assert.ok((await limiter.admit(mailbox, 1)).ok);
      }
      const perChange = (a.calls() - before) / 100;
      const held = paced(a.container, clock, { maxPerMinute, maxRecipientsPerDay: 50 }).limiter;
      await held.schedule(mailbox, 1); // reads the document once
      before = a.calls();
      assert.equal((await held.schedule(mailbox, 1)).ok, false, '50 recipients already today');
      assert.equal(a.calls() - before, 0, 'a refusal from a current copy costs nothing');

      const b = instance();
      assert.ok((await paced(b.container, clock, { maxPerMinute }).limiter.schedule(mailbox, 1)).ok);
      before = a.calls();
      assert.ok((await limiter.schedule(mailbox, 1)).ok);
      const afterOther = a.calls() - before;
      const document = await instance()
        .container.getBlobClient(`${mailboxFolder(mailbox)}/rate`)
        .downloadToBuffer();
      t.diagnostic(
        `${maxPerMinute}/min: ${perChange} calls per change, ${afterOther} after another instance's write; the document is ${document.length} bytes`,
      );
      assert.equal(perChange, 1);
      assert.equal(afterOther, 3, 'the write fails on the etag, then read and write');
      assert.ok(document.length < 1_000, document.toString());
    });
  }

  test('changes asked for together share one write', async () => {
    const { container, calls } = instance();
    const { limiter } = paced(container, { ms: 12_000_000 }, { maxPerMinute: 10_000 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => limiter.schedule('together@contoso.com', 1)));
    assert.equal(new Set(answers.map((a) => (a.ok ? a.at : NaN))).size, 10);
    assert.equal(calls(), 2, 'one read (not found) and one create for all ten');
  });

  test('a send longer than assumed records its real end; a fast one writes nothing more', async () => {
    const mailbox = 'slow@contoso.com';
    const clock = { ms: 20_000_000 };
    const { container, calls } = instance();
    const { limiter } = paced(container, clock, { maxPerMinute: 30 });
    const read = async () =>
      parsePace(
        (
          await instance()
            .container.getBlobClient(`${mailboxFolder(mailbox)}/rate`)
            .downloadToBuffer()
        ).toString(),
      );
    const fast = await limiter.admit(mailbox, 1);
    assert.ok(fast.ok);
    let before = calls();
    await limiter.track(mailbox, fast.end, () => Promise.resolve((clock.ms += 200)));
    assert.equal(calls() - before, 0, 'over within its assumed time: no write');

    const slow = await limiter.admit(mailbox, 1);
    assert.ok(slow.ok);
    before = calls();
    await limiter.track(mailbox, slow.end, () => Promise.resolve((clock.ms += 4_000)));
    assert.equal(calls() - before, 1, 'one write: the real end');
    const ends = Object.keys((await read()).ends).map((k) => Number(k) * 100);
    assert.deepEqual(ends.sort(), [fast.end, clock.ms].map((end) => Math.ceil(end / 100) * 100).sort());
  });

  test('the window waits in process for a place up to maxWait, and names a later time beyond it', async () => {
    const mailbox = 'window@contoso.com';
    const clock = { ms: 30_000_000 };
    const { limiter, waits } = paced(instance().container, clock, { maxPerMinute: 3 });
    const t0 = clock.ms;
    for (let i = 0; i < 3; i++) assert.ok((await limiter.admit(mailbox, 1)).ok);
    clock.ms = t0 + 57_000;
    // The first end (t0 + 1 s) leaves the window at t0 + 61 s: 4 s from now, within the wait.
    assert.ok((await limiter.admit(mailbox, 1)).ok);
    assert.deepEqual(waits, [4_000]);
    clock.ms = t0 + 61_000;
    assert.ok((await limiter.admit(mailbox, 1)).ok);
    assert.ok((await limiter.admit(mailbox, 1)).ok);
    const refused = await limiter.admit(mailbox, 1); // the next place comes with the 4th end + 60 s: t0 + 62 s … + 60 s
    assert.deepEqual(refused, { ok: false, at: t0 + 57_000 + 4_000 + 1_000 + MINUTE, reason: 'rate-limit' });
  });
});
