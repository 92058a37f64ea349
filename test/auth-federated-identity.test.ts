// federatedIdentity: a secretless app registration. The managed identity's token for the token-exchange
// audience is MSAL's client assertion; Entra trusts it through a federated identity credential.
// Its own file: @azure/identity reads the managed identity endpoint once per process.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/harness';
import { LOCAL_CLIENT_ID, LOCAL_FEDERATED_CLIENT_ID } from '../sandbox/stack';

let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'federatedIdentity' });
});
after(async () => h?.close());

test('the identity token is exchanged for an Exchange token of the app registration, and the mail goes out', async () => {
  const { json } = await h.post({ to: 'fed@example.com', subject: 'federated', text: 'x' });
  assert.equal((await h.waitForFinal(json.id)).status, 'sent');
  assert.deepEqual(h.stack.managedIdentity.hits.byResource, { 'api://AzureADTokenExchange': 1 });
  assert.deepEqual(h.stack.managedIdentity.hits.byClientId, { [LOCAL_CLIENT_ID]: 1 });
  assert.deepEqual(h.stack.entra.hits.byClientId, { [LOCAL_FEDERATED_CLIENT_ID]: 1 });
  const received = h.stack.smtp.messages.find((m) => m.messageId === `<${json.id}@contoso.example>`);
  assert.ok(received);
});
