// Managed identity mode, through the local App Service-style identity endpoint. Its own file:
// @azure/identity reads IDENTITY_ENDPOINT once per process.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/harness';
import { LOCAL_CLIENT_ID } from '../sandbox/stack';

let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'managedIdentity', settings: { MAIL_CLIENT_ID: LOCAL_CLIENT_ID } });
});
after(async () => h?.close());

test('a user-assigned managed identity gets an Exchange token once and the mails go out', async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await h.post({ to: `mi${i}@example.com`, subject: `mi ${i}`, text: 'x' })).json.id);
  for (const id of ids) assert.equal((await h.waitForFinal(id)).status, 'sent');
  const hits = h.stack.managedIdentity.hits;
  assert.equal(hits.issued, 1);
  assert.deepEqual(Object.keys(hits.byResource), ['https://outlook.office365.com']);
  assert.deepEqual(hits.byClientId, { [LOCAL_CLIENT_ID]: 1 });
  assert.equal(h.stack.tokens.counters.accepted >= 1, true);
  assert.equal(h.stack.tokens.counters.rejected, 0);
});
