// App registration modes through the local Entra-style endpoint (https, OpenID metadata, v2 token endpoint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './support/harness';
import { cachedTokenSource, renewalTime, RENEW_BEFORE_EXPIRY_MS } from '../src/identity/token-source';

test('client certificate: MSAL signs a client assertion the endpoint verifies, and the mail goes out', async (t) => {
  const h = await startHarness({ mode: 'clientCertificate' });
  t.after(() => h.close());
  const { json } = await h.post({ to: 'cert@example.com', subject: 'cert', text: 'x' });
  assert.equal((await h.waitForFinal(json.id)).status, 'sent');
  assert.equal(h.stack.entra.hits.issued, 1);
});

test('a short-lived token is reused for the first half of its life, not fetched for every message', async (t) => {
  const h = await startHarness({ mode: 'clientSecret', stack: { tokenLifetimeSeconds: 240 } });
  t.after(() => h.close());
  for (let i = 0; i < 3; i++) {
    const { json } = await h.post({ to: `r${i}@example.com`, subject: `renew ${i}`, text: 'x' });
    assert.equal((await h.waitForFinal(json.id)).status, 'sent');
  }
  // A 4-minute token is renewed after 2 minutes (half its life), so three quick sends share one.
  assert.equal(h.stack.entra.hits.issued, 1);
});

test('renewal: 5 minutes before expiry for ordinary tokens, halfway for short ones (120 s tokens, 360 messages)', async () => {
  let clock = 0;
  let fetched = 0;
  const lifetimeMs = 120_000;
  const source = cachedTokenSource(
    () => {
      fetched++;
      return Promise.resolve({ token: `t${fetched}`, expiresOn: clock + lifetimeMs });
    },
    () => clock,
  );
  for (let message = 0; message < 360; message++, clock += 1_000) {
    const token = await source.getToken();
    assert.ok(token.expiresOn - clock >= lifetimeMs / 2, 'never a token in the second half of its life');
  }
  assert.ok(fetched >= 6 && fetched <= 7, `${fetched} token requests for 360 messages over 6 minutes`);
  assert.equal(renewalTime({ token: 'x', expiresOn: 3_600_000 }, 0), 3_600_000 - RENEW_BEFORE_EXPIRY_MS);
  assert.equal(renewalTime({ token: 'x', expiresOn: 120_000 }, 0), 60_000);
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
