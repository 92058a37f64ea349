// The suppression list against Azurite's table storage: what a hard bounce is, entries per sender profile, the
// address taken as intake takes it (case), pages that end, and keys that cannot reach the table (Unicode, characters
// a row key may not hold, oversize, a profile name that would break out of the filter).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAzurite, type Azurite } from '../sandbox/azurite';
import { createStorageClients } from '../src/storage/clients';
import { isHardBounce } from '../src/suppression/hard-bounce';
import { createSuppressionList, SuppressionKeyError, type SuppressionList } from '../src/suppression/suppression-list';

let azurite: Azurite | undefined;
let list: SuppressionList;
const AT = '2026-12-01T10:00:00.000Z';

before(async () => {
  azurite = await startAzurite();
  const table = createStorageClients({ connectionString: azurite.connectionString }).table('suppressions');
  await table.createTable();
  list = createSuppressionList(table);
});

after(async () => {
  await azurite?.stop();
});

test('hard bounces are the address failures: 5.1.x, 5.2.1, 5.4.1; not a full mailbox, a policy refusal or a delay', () => {
  for (const status of ['5.1.1', '5.1.10', '5.1.0', '5.2.1', '5.4.1']) assert.equal(isHardBounce(status), true, status);
  for (const status of ['5.2.2', '5.7.1', '4.1.1', '4.4.7', '5.4.14', '5.1.1 ', 'x5.1.1', '5.1.'])
    assert.equal(isHardBounce(status), false, status);
});

test('an entry: added with reason and time, found whatever the case of the address, per profile, removed once', async () => {
  const added = await list.add({
    profile: 'fabrikam',
    address: 'Gone@Fabrikam.COM',
    status: '5.1.1',
    reason: 'smtp; 550 5.1.1 User unknown',
    messageId: 'order-1',
    suppressedAt: AT,
  });
  assert.deepEqual(added, {
    profile: 'fabrikam',
    address: 'gone@fabrikam.com',
    status: '5.1.1',
    reason: 'smtp; 550 5.1.1 User unknown',
    messageId: 'order-1',
    suppressedAt: AT,
  });
  assert.deepEqual(await list.get('fabrikam', 'GONE@fabrikam.com'), added);
  assert.equal(await list.get('contoso', 'gone@fabrikam.com'), undefined, "another profile's list is its own");
  assert.equal(await list.get(undefined, 'gone@fabrikam.com'), undefined);
  assert.equal(await list.remove('fabrikam', 'gone@FABRIKAM.com'), true);
  assert.equal(await list.get('fabrikam', 'gone@fabrikam.com'), undefined);
  assert.equal(await list.remove('fabrikam', 'gone@fabrikam.com'), false, 'nothing left to remove');
});

test('the same address bounced again: one entry, with the latest reason and time', async () => {
  await list.add({ address: 'twice@fabrikam.com', status: '5.1.1', suppressedAt: AT });
  await list.add({ address: 'TWICE@fabrikam.com', status: '5.2.1', reason: 'disabled', suppressedAt: '2026-12-02T10:00:00.000Z' });
  const { entries } = await list.list(undefined);
  assert.deepEqual(
    entries.filter((e) => e.address === 'twice@fabrikam.com').map((e) => [e.status, e.reason, e.suppressedAt]),
    [['5.2.1', 'disabled', '2026-12-02T10:00:00.000Z']],
  );
});

test('pages: bounded by the page size (at most 100), in address order, and they end', async () => {
  for (let i = 0; i < 7; i++) await list.add({ profile: 'paged', address: `user${i}@fabrikam.com`, status: '5.1.1', suppressedAt: AT });
  const seen: string[] = [];
  let continuation: string | undefined;
  let pages = 0;
  do {
    const page = await list.list('paged', { pageSize: 3, continuation });
    assert.ok(page.entries.length <= 3);
    seen.push(...page.entries.map((e) => e.address));
    continuation = page.continuation;
    pages++;
  } while (continuation && pages < 10);
  assert.deepEqual(
    seen,
    [...Array(7).keys()].map((i) => `user${i}@fabrikam.com`),
  );
  assert.equal((await list.list('paged', { pageSize: 10_000 })).entries.length, 7, 'a page never exceeds 100; 7 fit in one');
});

test("an address's characters reach the table encoded: stored and found as they are; those a row key may not hold intake refuses too", async () => {
  const address = "o'Brien+tag@xn--fbrikam-5wa.com";
  assert.equal((await list.add({ profile: 'keys', address, status: '5.1.1', suppressedAt: AT })).address, address.toLowerCase());
  assert.equal((await list.get('keys', address))?.address, address.toLowerCase());
  assert.deepEqual(
    (await list.list('keys')).entries.map((e) => e.address),
    [address.toLowerCase()],
  );
  for (const refused of ['a/b@fabrikam.com', 'a#b@fabrikam.com', 'a?b@fabrikam.com', 'a\\b@fabrikam.com']) {
    await assert.rejects(
      list.add({ profile: 'keys', address: refused, status: '5.1.1', suppressedAt: AT }),
      (error: unknown) => error instanceof SuppressionKeyError && error.field === 'address',
      refused,
    );
  }
  assert.equal((await list.list('keys')).entries.length, 1);
});

test('hostile keys are refused naming the field, and touch nothing', async () => {
  const cases: [() => Promise<unknown>, 'profile' | 'address'][] = [
    [() => list.add({ address: 'jörg@fabrikam.com', status: '5.1.1', suppressedAt: AT }), 'address'],
    [() => list.get(undefined, 'user@fäbrikam.com'), 'address'],
    [() => list.get(undefined, `${'a'.repeat(250)}@fabrikam.com`), 'address'],
    [() => list.get(undefined, 'not an address'), 'address'],
    [() => list.get(undefined, ''), 'address'],
    [() => list.remove(undefined, 'a\u0000@fabrikam.com'), 'address'],
    [() => list.list("x' or PartitionKey ne '"), 'profile'],
    [() => list.get('../status', 'a@fabrikam.com'), 'profile'],
    [() => list.add({ profile: 'p'.repeat(65), address: 'a@fabrikam.com', status: '5.1.1', suppressedAt: AT }), 'profile'],
  ];
  for (const [call, field] of cases) {
    await assert.rejects(call(), (error: unknown) => error instanceof SuppressionKeyError && error.field === field);
  }
  assert.deepEqual((await list.list('p'.repeat(64))).entries, []);
});
