// Two tenants, each mailbox through its own sender profile: contoso.example through the default profile (two auth
// modes), fabrikam.example through an app registration of its own tenant (two auth modes). The local SMTP server,
// like Exchange, takes only a token of the mailbox's own tenant.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/harness';
import { LOCAL_CLIENT_ID, LOCAL_FABRIKAM_CLIENT_ID, LOCAL_FABRIKAM_TENANT_ID, LOCAL_TENANT_ID } from '../sandbox/stack';
import { createClientCertificate } from '../sandbox/certs';

const started: Harness[] = [];
after(async () => {
  await Promise.all(started.map((h) => h.close()));
});

/** A harness whose fabrikam profile is `profile` (the authority host falls back to the default profile's, the local one). */
async function withFabrikamProfile(profile: Record<string, unknown>, settings: Record<string, string> = {}): Promise<Harness> {
  const fabrikam = { name: 'fabrikam', senders: ['@fabrikam.example'], ...profile };
  const h = await startHarness({ mode: 'clientSecret', settings: { MAIL_SENDER_PROFILES: JSON.stringify([fabrikam]), ...settings } });
  started.push(h);
  return h;
}

async function sendFromBoth(h: Harness): Promise<{ contoso: string; fabrikam: string }> {
  const contoso = await h.post({ from: 'noreply@contoso.example', to: 'a@example.com', subject: 'from contoso', text: 'x' });
  const fabrikam = await h.post({ from: 'noreply@fabrikam.example', to: 'b@example.com', subject: 'from fabrikam', text: 'x' });
  assert.equal(contoso.status, 202);
  assert.equal(fabrikam.status, 202);
  return { contoso: contoso.json.id, fabrikam: fabrikam.json.id };
}

for (const mode of ['clientSecret', 'managedIdentity'] as const) {
  test(`contoso through ${mode}, fabrikam through its own tenant's app (secret): both delivered, each with its own tenant's token`, async () => {
    const h = await startHarness({ mode });
    started.push(h);
    const { contoso, fabrikam } = await sendFromBoth(h);
    const [c, f] = [await h.waitForFinal(contoso), await h.waitForFinal(fabrikam)];
    assert.equal(c.status, 'sent', JSON.stringify(c));
    assert.equal(f.status, 'sent', JSON.stringify(f));
    assert.equal(c.profile, 'default');
    assert.equal(f.profile, 'fabrikam');
    // The server checked each token against the mailbox's tenant; the issuing side shows which app asked.
    assert.equal(h.stack.entra.hits.byClientId[LOCAL_FABRIKAM_CLIENT_ID], 1, 'one token request for the fabrikam profile');
    if (mode === 'clientSecret')
      assert.equal(h.stack.entra.hits.byClientId[LOCAL_CLIENT_ID], 1, 'one token request for the default profile');
    // Logs name addresses by domain only (MAIL_LOG_ADDRESSES off by default).
    assert.ok(h.logs.some((l) => l.includes(`Sent message ${fabrikam} from ***@fabrikam.example (profile fabrikam)`)));
    // More mail reuses each profile's token: still one request per profile.
    const again = await sendFromBoth(h);
    await h.waitForFinal(again.contoso);
    await h.waitForFinal(again.fabrikam);
    assert.equal(h.stack.entra.hits.byClientId[LOCAL_FABRIKAM_CLIENT_ID], 1);
  });
}

test('fabrikam through a client certificate of its own tenant', async () => {
  const certificate = await createClientCertificate();
  const h = await withFabrikamProfile(
    {
      authMode: 'clientCertificate',
      tenantId: LOCAL_FABRIKAM_TENANT_ID,
      clientId: LOCAL_FABRIKAM_CLIENT_ID,
      clientCertificateSetting: 'MAIL_FABRIKAM_CERTIFICATE',
    },
    { MAIL_FABRIKAM_CERTIFICATE: `${certificate.keyPem}\n${certificate.certPem}` },
  );
  h.stack.entra.register({ tenantId: LOCAL_FABRIKAM_TENANT_ID, clientId: LOCAL_FABRIKAM_CLIENT_ID, certificatePem: certificate.certPem });
  const { contoso, fabrikam } = await sendFromBoth(h);
  for (const id of [contoso, fabrikam]) assert.equal((await h.waitForFinal(id)).status, 'sent');
  assert.equal((await h.runtime.status.get(fabrikam))!.record.profile, 'fabrikam');
});

test("a profile that points at another tenant: Exchange refuses that tenant's token, and the failure says to check the profile's tenant", async () => {
  // fabrikam's mailboxes, but contoso's app registration and tenant: a contoso token offered for a fabrikam mailbox.
  const h = await withFabrikamProfile({
    authMode: 'clientSecret',
    tenantId: LOCAL_TENANT_ID,
    clientId: LOCAL_CLIENT_ID,
    clientSecretSetting: 'MAIL_CLIENT_SECRET',
  });
  const { contoso, fabrikam } = await sendFromBoth(h);
  assert.equal((await h.waitForFinal(contoso)).status, 'sent');
  const record = await h.waitForFinal(fabrikam);
  assert.equal(record.status, 'failed');
  assert.equal(record.errorCategory, 'authentication-failed');
  assert.match(record.hint ?? '', /mailbox's own tenant/);
  assert.equal(record.profile, 'fabrikam');
  const refused = h.stack.smtp.connections.filter((c) =>
    c.events.some((e) => e.type === 'auth' && !e.ok && e.address === 'noreply@fabrikam.example'),
  );
  assert.equal(refused.length, 2, 'refused once, and once more with a fresh token');
});

test('a profile whose credential setting is missing, or whose senders are not allowed, stops the configuration naming both', async () => {
  await assert.rejects(
    withFabrikamProfile({
      authMode: 'clientSecret',
      tenantId: LOCAL_FABRIKAM_TENANT_ID,
      clientId: LOCAL_FABRIKAM_CLIENT_ID,
      clientSecretSetting: 'MAIL_NOT_SET',
      senders: ['@elsewhere.example'],
    }),
    (error: Error) =>
      /MAIL_SENDER_PROFILES\[0\]\.clientSecretSetting: the app setting MAIL_NOT_SET is not set/.test(error.message) &&
      /MAIL_SENDER_PROFILES\[0\]\.senders: @elsewhere\.example/.test(error.message),
  );
});
