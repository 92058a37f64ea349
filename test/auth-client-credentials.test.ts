// App registration modes through the local Entra-style endpoint (https, OpenID metadata, v2 token endpoint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './support/harness';

test('client certificate: MSAL signs a client assertion the endpoint verifies, and the mail goes out', async (t) => {
  const h = await startHarness({ mode: 'clientCertificate' });
  t.after(() => h.close());
  const { json } = await h.post({ to: 'cert@example.com', subject: 'cert', text: 'x' });
  assert.equal((await h.waitForFinal(json.id)).status, 'sent');
  assert.equal(h.stack.entra.hits.issued, 1);
});

test('tokens are renewed 5 minutes before expiry: a 4-minute token is never reused', async (t) => {
  const h = await startHarness({ mode: 'clientSecret', stack: { tokenLifetimeSeconds: 240 } });
  t.after(() => h.close());
  for (let i = 0; i < 3; i++) {
    const { json } = await h.post({ to: `r${i}@example.com`, subject: `renew ${i}`, text: 'x' });
    assert.equal((await h.waitForFinal(json.id)).status, 'sent');
  }
  // Each send needs a token with more than 5 minutes left, so each asks the endpoint again.
  assert.ok(h.stack.entra.hits.issued >= 3, `issued ${h.stack.entra.hits.issued}`);
});

test('a wrong client secret fails the message with the AADSTS code and a setup hint, without retrying', async (t) => {
  const h = await startHarness({ mode: 'clientSecret', settings: { MAIL_CLIENT_SECRET: 'wrong-secret-value' } });
  t.after(() => h.close());
  const { json } = await h.post({ to: 'w@example.com', subject: 'wrong secret', text: 'x' });
  const record = await h.waitForFinal(json.id);
  assert.equal(record.status, 'failed');
  assert.equal(record.errorCategory, 'token-configuration');
  assert.match(record.hint ?? '', /AADSTS7000215/);
  assert.equal(record.attempts, 1);
  assert.equal(h.stack.smtp.connections.length, 0);
  const everything = JSON.stringify(record) + h.logs.join('\n');
  assert.ok(!everything.includes('wrong-secret-value'), 'the secret must not appear in status or logs');
});
