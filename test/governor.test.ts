// The per-mailbox governor against real Azurite: several independent instances (own clients, own lease ids, as
// separate processes would have; one test uses a real second process) share one container.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ContainerClient, newPipeline, StorageSharedKeyCredential, type RequestPolicyFactory } from '@azure/storage-blob';
import { AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME, startAzurite, type Azurite } from '../src/local/azurite';
import { createConnectionSlots, type ConnectionSlots, type Slot } from '../src/governor/connection-slots';
import { createRateLimiter, type ReserveResult } from '../src/governor/rate-limiter';
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

describe('rate limiter', () => {
  const MINUTE = 60_000;
  /** A limiter of its own instance, on a clock the test moves; it records the waits instead of sleeping them. */
  function paced(
    container: ContainerClient,
    clock: { ms: number },
    options: { maxPerMinute: number; maxInFlight: number; maxWaitMs?: number },
  ) {
    const waits: number[] = [];
    const limiter = createRateLimiter({ container, ...options, now: () => clock.ms, sleep: (ms) => (waits.push(ms), Promise.resolve()) });
    return { limiter, waits };
  }
  const turnsOf = (results: ReserveResult[]) => results.flatMap((r) => (r.ok ? [r.turnAt] : [])).sort((a, b) => a - b);

  test('40 concurrent reservations from 3 instances: every turn its own, an interval apart, none beyond maxWait', async (t) => {
    const mailbox = 'rate@contoso.com';
    const clock = { ms: 1_000_000 };
    // 13 a minute with 3 connections: one turn every 60 s / (13 - 3) = 6 s; waiting up to 30 s admits 6 turns.
    const instances = [instance(), instance(), instance()];
    const limiters = instances.map(({ container }) => paced(container, clock, { maxPerMinute: 13, maxInFlight: 3, maxWaitMs: 30_000 }));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => limiters[i % 3].limiter.tryReserve(mailbox)));
    const calls = instances.reduce((sum, i) => sum + i.calls(), 0);
    t.diagnostic(`40 concurrent: ${turnsOf(results).length} admitted; ${(calls / 40).toFixed(2)} storage calls per tryReserve`);
    assert.deepEqual(
      turnsOf(results),
      [0, 1, 2, 3, 4, 5].map((k) => clock.ms + k * 6_000),
    );
    for (const r of results) if (!r.ok) assert.equal(r.retryAfterMs, 6_000, 'the next turn is 36 s ahead, 6 s beyond maxWait');
    assert.deepEqual(
      limiters.flatMap((l) => l.waits).sort((a, b) => a - b),
      [1, 2, 3, 4, 5].map((k) => k * 6_000),
      'each waits for its turn; the first need not',
    );
  });

  test('instances reserving as the clock moves on: never more than maxPerMinute − maxInFlight turns in any minute', async () => {
    const mailbox = 'moving@contoso.com';
    const clock = { ms: 5_000_000 };
    const [N, C] = [20, 3];
    const interval = MINUTE / (N - C);
    const limiters = [instance(), instance(), instance()].map(({ container }) =>
      paced(container, clock, { maxPerMinute: N, maxInFlight: C, maxWaitMs: 10_000 }),
    );
    const turns: number[] = [];
    await Promise.all(
      limiters.map(async ({ limiter }) => {
        for (let i = 0; i < 25; i++) {
          const asked = clock.ms;
          const result = await limiter.tryReserve(mailbox);
          if (result.ok) {
            assert.ok(result.turnAt >= asked && result.turnAt <= clock.ms + 10_000, 'a turn is never in the past, nor beyond maxWait');
            turns.push(result.turnAt);
          }
          clock.ms += Math.random() * interval; // the instances' reservations interleave with the clock
        }
      }),
    );
    turns.sort((a, b) => a - b);
    assert.ok(turns.length > 20, `only ${turns.length} turns`);
    for (let i = 1; i < turns.length; i++)
      assert.ok(turns[i] - turns[i - 1] >= interval - 1e-6, `turns ${i - 1} and ${i} are ${turns[i] - turns[i - 1]} ms apart`);
    for (let i = N - C; i < turns.length; i++)
      assert.ok(turns[i] - turns[i - (N - C)] >= MINUTE - 1e-6, 'at most N − C turns within any minute');
  });

  for (const maxPerMinute of [30, 10_000]) {
    test(`${maxPerMinute}/min: one write per turn, a refusal from a current copy costs nothing, another instance's turn one read more; the pace stays one number`, async (t) => {
      const mailbox = `cost-${maxPerMinute}@contoso.com`;
      const clock = { ms: 9_000_000 };
      const interval = MINUTE / (maxPerMinute - 3);
      const a = instance();
      const { limiter } = paced(a.container, clock, { maxPerMinute, maxInFlight: 3, maxWaitMs: 0 });
      assert.ok((await limiter.tryReserve(mailbox)).ok);
      assert.equal(a.calls(), 2, 'first use: read (not found) and create');

      let before = a.calls();
      for (let i = 0; i < 50; i++) {
        clock.ms += interval;
        assert.ok((await limiter.tryReserve(mailbox)).ok);
      }
      const perTurn = (a.calls() - before) / 50;
      before = a.calls();
      const refused = await limiter.tryReserve(mailbox); // the clock has not moved: the next turn is an interval ahead
      assert.equal(refused.ok, false);
      assert.equal(a.calls() - before, 0, 'a refusal from a current copy costs nothing');

      const b = instance();
      clock.ms += interval;
      assert.ok((await paced(b.container, clock, { maxPerMinute, maxInFlight: 3, maxWaitMs: 0 }).limiter.tryReserve(mailbox)).ok);
      clock.ms += interval;
      before = a.calls();
      assert.ok((await limiter.tryReserve(mailbox)).ok);
      const afterOther = a.calls() - before;
      const pace = await instance()
        .container.getBlobClient(`${mailboxFolder(mailbox)}/rate`)
        .downloadToBuffer();
      t.diagnostic(
        `${maxPerMinute}/min: ${perTurn} calls per turn, ${afterOther} after another instance's turn; the pace blob is ${pace.length} bytes`,
      );
      assert.equal(perTurn, 1);
      assert.equal(afterOther, 3, 'the write fails on the etag, then read and write');
      assert.ok(pace.length < 40, pace.toString());
    });
  }

  test('reservations made together share one write', async () => {
    const { container, calls } = instance();
    const { limiter } = paced(container, { ms: 12_000_000 }, { maxPerMinute: 10_000, maxInFlight: 3 });
    const results = await Promise.all(Array.from({ length: 10 }, () => limiter.tryReserve('together@contoso.com')));
    assert.equal(turnsOf(results).length, 10);
    assert.equal(calls(), 2, 'one read (not found) and one create for all ten');
  });

  test("10,000/min: one write also takes the turns due within 50 ms for the process's next sends; one not used by its time is lost", async () => {
    const mailbox = 'spare@contoso.com';
    const clock = { ms: 15_000_000 };
    const interval = MINUTE / (10_000 - 3);
    const { container, calls } = instance();
    const { limiter } = paced(container, clock, { maxPerMinute: 10_000, maxInFlight: 3 });
    const first = await limiter.tryReserve(mailbox);
    assert.deepEqual(first, { ok: true, turnAt: clock.ms });
    const spare = Math.floor(50 / interval);
    assert.equal(calls(), 2, 'read (not found) and create');
    for (let k = 1; k <= spare; k++) {
      const next = await limiter.tryReserve(mailbox);
      assert.ok(next.ok && Math.abs(next.turnAt - (clock.ms + k * interval)) < 1e-6, JSON.stringify(next));
    }
    assert.equal(calls(), 2, `${spare} more turns without a request`);
    assert.ok((await limiter.tryReserve(mailbox)).ok);
    assert.equal(calls(), 3);

    clock.ms += 1_000; // the turns taken ahead are past now: never used late, a write takes new ones
    const late = await limiter.tryReserve(mailbox);
    assert.deepEqual(late, { ok: true, turnAt: clock.ms });
    assert.equal(calls(), 4);
  });

  test('with an injected clock: a turn within maxWait is waited for; a later one is refused until it is within reach', async () => {
    const mailbox = 'clock@contoso.com';
    const clock = { ms: 20_000_000 };
    const t0 = clock.ms;
    // 5 a minute with 3 connections: a turn every 30 s.
    const [a, b] = [instance(), instance()].map(({ container }) =>
      paced(container, clock, { maxPerMinute: 5, maxInFlight: 3, maxWaitMs: 10_000 }),
    );
    assert.deepEqual(await a.limiter.tryReserve(mailbox), { ok: true, turnAt: t0 });
    assert.deepEqual(await b.limiter.tryReserve(mailbox), { ok: false, retryAfterMs: 20_000 });
    clock.ms = t0 + 20_000;
    assert.deepEqual(await b.limiter.tryReserve(mailbox), { ok: true, turnAt: t0 + 30_000 });
    assert.deepEqual(b.waits, [10_000]);
    assert.deepEqual(await a.limiter.tryReserve(mailbox), { ok: false, retryAfterMs: 30_000 });
  });

  test('a sender that dies after its reservation leaves nothing behind: the next turn is one interval later', async () => {
    const mailbox = 'crashed-sender@contoso.com';
    const clock = { ms: 30_000_000 };
    const dead = paced(instance().container, clock, { maxPerMinute: 30, maxInFlight: 3 });
    assert.ok((await dead.limiter.tryReserve(mailbox)).ok); // and then nothing: no completion to record
    const next = await paced(instance().container, clock, { maxPerMinute: 30, maxInFlight: 3 }).limiter.tryReserve(mailbox);
    assert.deepEqual(next, { ok: true, turnAt: clock.ms + MINUTE / 27 });
  });

  test('a limit no greater than the connections per mailbox is refused: each connection may carry a message into the next minute', () => {
    const { container } = instance();
    assert.throws(() => createRateLimiter({ container, maxPerMinute: 3, maxInFlight: 3 }), /must exceed the connections per mailbox/);
    assert.doesNotThrow(() => createRateLimiter({ container, maxPerMinute: 4, maxInFlight: 3 }));
  });
});
