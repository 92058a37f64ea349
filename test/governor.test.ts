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
    const deadline = Date.now() + 3_000;
    await Promise.all(
      Array.from({ length: 20 }, async (_, loop) => {
        while (Date.now() < deadline) {
          const started = performance.now();
          const slot = await slots[loop % slots.length]!.tryAcquire(mailbox);
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
    t.diagnostic(`max held ${maxHeld}/${N}; ${acquired} acquisitions in ${latencies.length} tryAcquire calls; ${(calls / latencies.length).toFixed(2)} storage calls per tryAcquire (incl. releases); mean tryAcquire ${mean(latencies).toFixed(1)} ms`);
    assert.equal(maxHeld, N, 'contention should fill every slot');
    assert.ok(acquired > 20, `only ${acquired} acquisitions`);
    assert.equal((await acquireAll(slots[0]!, mailbox)).length, N, 'all slots free after the run');
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
    await given!.release();
    const callsBefore = b.calls();
    const started = performance.now();
    const taken = await slotsB.tryAcquire('release@contoso.com');
    const ms = performance.now() - started;
    assert.equal(taken?.index, given!.index);
    t.diagnostic(`first use of 3 slots (blobs created): ${firstUse.calls} calls, ${firstUse.ms.toFixed(1)} ms; acquire of an existing slot: ${b.calls() - callsBefore} calls (1 per slot tried), ${ms.toFixed(1)} ms`);
    await Promise.all([taken!, ...held].map((s) => s.release()));
  });

  test('a slot whose lease was broken is marked lost, and releasing it leaves the new holder alone', async () => {
    const mailbox = 'broken@contoso.com';
    const a = createConnectionSlots({ container: instance().container, slotsPerMailbox: 1, leaseSeconds: 15, renewEveryMs: 100, log: silent });
    const b = createConnectionSlots({ container: instance().container, slotsPerMailbox: 1, log: silent });
    const slot = (await a.tryAcquire(mailbox))!;
    await sleep(250);
    assert.equal(slot.lost, false, 'renewals succeed while the lease is held');
    await instance().container.getBlobClient(`${mailboxFolder(mailbox)}/slot-0`).getBlobLeaseClient().breakLease(0);
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
      const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, CONTAINER_URL: containerUrl, ACCOUNT_KEY: AZURITE_ACCOUNT_KEY }, stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const [line] = (await once(child.stdout!, 'data')) as [Buffer];
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
  test('admits exactly maxPerMinute of 40 concurrent reservations from 3 instances', async (t) => {
    const mailbox = 'rate@contoso.com';
    const instances = [instance(), instance(), instance()];
    const limiters = instances.map(({ container }) => createRateLimiter({ container, maxPerMinute: 10 }));
    const latencies: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const started = performance.now();
        const result = await limiters[i % 3]!.tryReserve(mailbox);
        latencies.push(performance.now() - started);
        return result;
      }),
    );
    const admitted = results.filter((r): r is Extract<ReserveResult, { ok: true }> => r.ok);
    const refused = results.filter((r): r is Extract<ReserveResult, { ok: false }> => !r.ok);
    const calls = instances.reduce((sum, i) => sum + i.calls(), 0);
    t.diagnostic(`40 concurrent: ${admitted.length} admitted; ${(calls / 40).toFixed(2)} storage calls per tryReserve; mean ${mean(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(0)} ms`);
    assert.equal(admitted.length, 10);
    // Nothing completed yet: a place can come free no sooner than a window after a completion.
    for (const r of refused) assert.equal(r.retryAfterMs, 60_001);

    const completing = Date.now();
    await Promise.all(admitted.map((r) => r.reservation.complete()));
    // The earliest doneAt lies between `completing` and now: a place frees a window (+1 ms) after it.
    const next = await limiters[0]!.tryReserve(mailbox);
    const elapsed = Date.now() - completing;
    assert.equal(next.ok, false);
    const retryAfterMs = (next as { retryAfterMs: number }).retryAfterMs;
    assert.ok(retryAfterMs >= 60_001 - elapsed && retryAfterMs <= 60_001, `retryAfterMs ${retryAfterMs}, ${elapsed} ms after completing`);
    const log = await readLog(mailbox);
    assert.equal(log.length, 10);
    assert.ok(log.every((e) => typeof e.doneAt === 'number'), 'every entry completed');
  });

  test('sequential reservations: storage calls and latency', async (t) => {
    const mailbox = 'sequential@contoso.com';
    const { container, calls } = instance();
    const limiter = createRateLimiter({ container, maxPerMinute: 30 });
    assert.ok((await limiter.tryReserve(mailbox)).ok); // creates the log
    const reserve: number[] = [];
    const complete: number[] = [];
    let before = calls();
    for (let i = 0; i < 29; i++) {
      let started = performance.now();
      const result = await limiter.tryReserve(mailbox);
      reserve.push(performance.now() - started);
      assert.ok(result.ok);
      started = performance.now();
      await result.reservation.complete();
      complete.push(performance.now() - started);
    }
    const perPair = (calls() - before) / 29;
    before = calls();
    assert.equal((await limiter.tryReserve(mailbox)).ok, false);
    const perRefusal = calls() - before;
    t.diagnostic(`reserve+complete: ${perPair} storage calls; refused reserve: ${perRefusal}; mean reserve ${mean(reserve).toFixed(1)} ms, complete ${mean(complete).toFixed(1)} ms (log of up to 30 entries)`);
    assert.equal(perPair, 4, 'read+write to reserve, read+write to complete');
    assert.equal(perRefusal, 1, 'a refusal only reads');
  });

  test('with an injected clock, entries expire a window after doneAt, and unfinished ones after 10 minutes', async () => {
    const mailbox = 'clock@contoso.com';
    let now = 1_000_000;
    const at = (ms: number) => (now = 1_000_000 + ms);
    const [a, b] = [instance(), instance()].map(({ container }) => createRateLimiter({ container, maxPerMinute: 2, windowMs: 60_000, now: () => now }));
    const reserve = async (limiter = a!) => limiter.tryReserve(mailbox);

    at(0);
    const r1 = await reserve(a);
    const r2 = await reserve(b);
    assert.ok(r1.ok && r2.ok);
    assert.deepEqual(await reserve(), { ok: false, retryAfterMs: 60_001 });

    at(59_000);
    await r1.reservation.complete();
    at(61_000); // 61 s after r1 was reserved but only 2 s after it was done: still counts
    assert.deepEqual(await reserve(b), { ok: false, retryAfterMs: 58_001 });
    at(119_000);
    assert.deepEqual(await reserve(), { ok: false, retryAfterMs: 1 });
    at(119_001);
    const r3 = await reserve();
    assert.ok(r3.ok, 'a window after doneAt the place is free');
    assert.deepEqual((await readLog(mailbox)).map((e) => e.reservedAt), [1_000_000, 1_119_001], 'the expired entry left the log');

    // r2 never completes (a crashed sender): it counts for 10 minutes, then is dropped.
    at(600_000);
    assert.deepEqual(await reserve(), { ok: false, retryAfterMs: 1 });
    at(600_001);
    assert.ok((await reserve(b)).ok);
    await r2.reservation.complete(); // too late: its entry is gone, nothing to record
    assert.deepEqual((await readLog(mailbox)).map((e) => [e.reservedAt, e.doneAt]), [[1_119_001, undefined], [1_600_001, undefined]]);
  });
});

async function readLog(mailbox: string): Promise<Array<{ id: string; reservedAt: number; doneAt?: number }>> {
  const body = await instance().container.getBlobClient(`${mailboxFolder(mailbox)}/rate`).downloadToBuffer();
  return JSON.parse(body.toString('utf8')).entries;
}
