// Who may call, as whom: Entra access tokens (by app id or app role) and caller keys, each with its own senders,
// recipient domains, quota and status visibility — against the local Entra endpoint's real RS256 tokens and JWKS.
// Applications that share one entraRole entry share its policy, not their identity: statuses, Idempotency-Keys and
// quota stay each application's own. Every operation names the app role it needs; delegated (user) tokens get nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, queueLength, type Harness } from './support/harness';
import { LOCAL_TENANT_ID } from '../sandbox/stack';
import { EXCHANGE_AUDIENCE } from '../sandbox/token-authority';
import { httpOptions } from '../src/hosting/function-definition';
import { appFunctions } from '../src/hosting/app-functions';
import type { AppServices } from '../src/hosting/app-services';

const API = 'api://exo-mailer-local';
const OTHER_TENANT = '00000000-0000-4000-8000-0000000000f2';
const app = (n: number) => `00000000-0000-4000-8000-0000000ca11${n}`;
const ORDERS = app(1); // a caller by app id, with the Mail.Send role
const ROLE_HOLDER = app(2); // no entry of its own: a caller through its Mail.Send role
const NO_ROLE = app(3); // a caller by app id whose token lacks Mail.Send
const STRANGER = app(4); // not a caller at all
const FOREIGN = app(5); // another tenant's app
const ROLE_HOLDER_B = app(6); // a second app under the same Mail.Send role entry as ROLE_HOLDER
const READER = app(7); // MailStatus.Read only: a dashboard that reads every status and sends nothing
const API_V1 = 'api://exo-mailer-local-no-idtyp'; // an API registration without the idtyp optional claim
const USER = 'ann@contoso.example';
const USER_PASSWORD = 'local-user-password';
const SECRET = 'local-caller-secret';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const CALLERS = [
  { name: 'orders', entraAppId: ORDERS, senders: ['orders@contoso.example'] },
  { name: 'no-role', entraAppId: NO_ROLE, senders: ['orders@contoso.example'] },
  { name: 'dashboard', entraAppId: READER, senders: ['noreply@contoso.example'], readAllStatus: true },
  {
    name: 'senders-by-role',
    entraRole: 'Mail.Send',
    senders: ['noreply@contoso.example'],
    defaultSender: 'noreply@contoso.example',
    dailyQuota: 6,
  },
  {
    name: 'billing',
    keySha256: sha256('billing-key'),
    senders: ['@contoso.example'],
    defaultSender: 'billing@contoso.example',
    recipientDomains: ['example.com'],
    dailyQuota: 4,
  },
  { name: 'auditor', keySha256: sha256('auditor-key'), senders: ['noreply@contoso.example'], readAllStatus: true },
];

let h: Harness;
before(async () => {
  h = await startHarness({
    mode: 'clientSecret',
    settings: { MAIL_CALLERS: JSON.stringify(CALLERS), MAIL_API_AUDIENCE: `${API},${API_V1}`, MAIL_API_TENANT_ID: LOCAL_TENANT_ID },
  });
  for (const clientId of [ORDERS, ROLE_HOLDER, NO_ROLE, STRANGER, ROLE_HOLDER_B, READER])
    h.stack.entra.register({ tenantId: LOCAL_TENANT_ID, clientId, secret: SECRET });
  h.stack.entra.register({ tenantId: OTHER_TENANT, clientId: FOREIGN, secret: SECRET });
  h.stack.entra.registerUser({ tenantId: LOCAL_TENANT_ID, username: USER, password: USER_PASSWORD });
  // As infra/modules/entra.bicep registers the API: version 2 tokens with the idtyp optional claim. The user holds
  // Mail.Send as well (an app role assigned to a user), so only the kind of token refuses it.
  const roles = {
    [ORDERS]: ['Mail.Send'],
    [ROLE_HOLDER]: ['Mail.Send'],
    [ROLE_HOLDER_B]: ['Mail.Send'],
    [STRANGER]: ['Mail.Read'],
    [READER]: ['MailStatus.Read'],
    [USER]: ['Mail.Send'],
  };
  h.stack.entra.registerApi({ tenantId: LOCAL_TENANT_ID, audience: API, roles, scopes: ['user_impersonation'], optionalClaims: ['idtyp'] });
  h.stack.entra.registerApi({ tenantId: LOCAL_TENANT_ID, audience: API_V1, roles, scopes: ['user_impersonation'] });
  h.stack.entra.registerApi({ tenantId: OTHER_TENANT, audience: API, roles: { [FOREIGN]: ['Mail.Send'] } });
});
after(async () => h?.close());

/** A client-credentials token from the local Entra endpoint, as a Logic App's identity or a daemon gets one. */
async function tokenFor(clientId: string, tenant = LOCAL_TENANT_ID, audience = API): Promise<string> {
  const response = await fetch(`${h.stack.entra.authorityHost}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: SECRET,
      scope: `${audience}/.default`,
    }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** A delegated token: the user signs in through the ORDERS client (resource owner password grant). */
async function userToken(audience = API): Promise<string> {
  const response = await fetch(`${h.stack.entra.authorityHost}/${LOCAL_TENANT_ID}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: ORDERS,
      client_secret: SECRET,
      username: USER,
      password: USER_PASSWORD,
      scope: `${audience}/.default`,
    }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
const bearer = async (clientId: string) => ({ authorization: `Bearer ${await tokenFor(clientId)}` });
const key = (value: string) => ({ 'x-functions-key': value });

async function post(body: unknown, headers: Record<string, string>) {
  const response = await fetch(`${h.host!.url}/api/mail`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
}
const get = async (id: string, headers: Record<string, string>) => (await fetch(`${h.host!.url}/api/mail/${id}`, { headers })).status;
const hook = async (method: 'POST' | 'OPTIONS', headers: Record<string, string>) => {
  const response = await fetch(`${h.host!.url}/api/hooks/event-grid?to=ops@example.com`, {
    method,
    headers: { 'content-type': 'application/json', 'webhook-request-origin': 'eventgrid.azure.net', ...headers },
    body:
      method === 'POST'
        ? readFileSync(join(__dirname, '..', '..', 'test', 'samples', 'event-grid-subscription-validation.json'))
        : undefined,
  });
  return { status: response.status, text: await response.text() };
};
const mail = (extra: Record<string, unknown> = {}) => ({ to: 'someone@example.com', subject: 'callers', text: 'x', ...extra });
/** A function as its file declares it. */
const declared = (name: string) => appFunctions().http.find((fn) => fn.name === name)!;

async function statusRecords(): Promise<number> {
  let count = 0;
  for await (const entity of h.runtime.storage.table(h.config.statusTable).listEntities()) if (entity.rowKey === 'status') count++;
  return count;
}

test('with MAIL_CALLERS the host lets requests through and the app authenticates them', () => {
  const options = httpOptions(declared('sendMail'), () => ({}) as AppServices, true);
  assert.equal(options.authLevel, 'anonymous');
  assert.equal(httpOptions(declared('sendMail'), () => ({}) as AppServices, false).authLevel, 'function');
});

test('refused callers: no credential, a bad key, a malformed or foreign token, an unknown app, a token without Mail.Send', async () => {
  const before = await statusRecords();
  const none = await post(mail(), {});
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await post(mail(), key('wrong-key'))).status, 401);
  assert.equal((await post(mail(), { authorization: 'Bearer not.a.token' })).status, 401);
  assert.equal(
    (await post(mail(), { authorization: `Bearer ${await tokenFor(ORDERS, LOCAL_TENANT_ID, EXCHANGE_AUDIENCE)}` })).status,
    401,
    'a token for another audience',
  );
  const foreign = await post(mail(), { authorization: `Bearer ${await tokenFor(FOREIGN, OTHER_TENANT)}` });
  assert.equal(foreign.status, 401, 'a token of another tenant');
  const stranger = await post(mail(), await bearer(STRANGER));
  assert.equal(stranger.status, 403);
  assert.match(stranger.json.detail, new RegExp(STRANGER));
  const noRole = await post(mail({ from: 'orders@contoso.example' }), await bearer(NO_ROLE));
  assert.equal(noRole.status, 403);
  assert.match(noRole.json.detail, /Mail\.Send/);
  assert.equal(await statusRecords(), before, 'a refused caller leaves no record');
  assert.equal(await queueLength(h.runtime), 0);
});

test('each caller sends only as its own senders, and is told which it may use', async () => {
  const orders = await post(mail({ from: 'orders@contoso.example' }), await bearer(ORDERS));
  assert.equal(orders.status, 202, JSON.stringify(orders.json));
  const overstep = await post(mail({ from: 'noreply@contoso.example' }), await bearer(ORDERS));
  assert.equal(overstep.status, 403);
  assert.deepEqual(overstep.json.errors, [{ field: 'from', detail: 'may send as: orders@contoso.example' }]);
  const noFrom = await post(mail(), await bearer(ORDERS));
  assert.equal(noFrom.status, 400, 'orders has no default sender');

  const byRole = await post(mail(), await bearer(ROLE_HOLDER));
  assert.equal(byRole.status, 202);
  assert.equal(byRole.json.sender, 'noreply@contoso.example');

  const billing = await post(mail(), key('billing-key'));
  assert.equal(billing.status, 202);
  assert.equal(billing.json.sender, 'billing@contoso.example', "the caller's default sender");
  const outside = await post(mail({ to: 'someone@elsewhere.example' }), key('billing-key'));
  assert.equal(outside.status, 403);
  assert.match(outside.json.errors[0].detail, /may send to: example\.com/);

  for (const id of [orders.json.id, byRole.json.id, billing.json.id]) assert.equal((await h.waitForFinal(id)).status, 'sent');
  const sent = h.stack.smtp.messages.find((m) => m.messageId === `<${billing.json.id}@contoso.example>`)!;
  assert.equal(sent.mailFrom, 'billing@contoso.example');
});

test("a caller reads only its own messages' status; a readAllStatus caller reads all", async () => {
  const billing = await post(mail(), key('billing-key'));
  const id = billing.json.id as string;
  assert.notEqual(await get(id, key('billing-key')), 404);
  assert.equal(await get(id, await bearer(ORDERS)), 404, "another caller's message is not found");
  assert.notEqual(await get(id, key('auditor-key')), 404);
  assert.equal(await get(id, {}), 401);
  assert.equal((await h.runtime.status.get(id))!.record.caller, 'billing');
});

test('Idempotency-Keys are per caller: the same key from two callers makes two messages', async () => {
  const first = await post(mail({ from: 'orders@contoso.example' }), { ...(await bearer(ORDERS)), 'idempotency-key': 'shared-key' });
  const second = await post(mail({ from: 'orders@contoso.example' }), { ...key('billing-key'), 'idempotency-key': 'shared-key' });
  assert.equal(first.status, 202);
  assert.equal(second.status, 202);
  assert.notEqual(first.json.id, second.json.id);
});

test('a daily quota refuses with 429 and Retry-After once used up; repeats do not count', async () => {
  const statuses: number[] = [];
  let last: Awaited<ReturnType<typeof post>> | undefined;
  for (let i = 0; i < 3; i++) {
    last = await post(mail({ subject: `quota ${i}` }), { ...key('billing-key'), 'idempotency-key': 'quota-repeat' });
    statuses.push(last.status);
  }
  // Earlier tests took 3 of billing's 4 (refusals take none). The first request here takes the 4th; its two
  // repeats with the same key but another mail are refused (422) and give theirs back.
  assert.deepEqual(statuses, [202, 422, 422]);
  const over = await post(mail({ subject: 'one too many' }), key('billing-key'));
  assert.equal(over.status, 429);
  const retryAfter = Number(over.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= 86_400);
  assert.match(over.json.detail, /4 of its 4/);
});

test("two applications under one entraRole entry: neither reads the other's status", async () => {
  const a = await post(mail(), await bearer(ROLE_HOLDER));
  const b = await post(mail(), await bearer(ROLE_HOLDER_B));
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.notEqual(await get(a.json.id, await bearer(ROLE_HOLDER)), 404);
  assert.equal(await get(a.json.id, await bearer(ROLE_HOLDER_B)), 404, "the other application's message is not found");
  assert.equal(await get(b.json.id, await bearer(ROLE_HOLDER)), 404);
  assert.notEqual(await get(b.json.id, await bearer(ROLE_HOLDER_B)), 404);
  assert.equal((await h.runtime.status.get(a.json.id))!.record.caller, `senders-by-role:${ROLE_HOLDER}`);
});

test("two applications under one entraRole entry: the same Idempotency-Key is two messages, and neither can claim the other's key", async () => {
  const key = 'workflow-run-0001';
  // B uses the key first, for another mail: under one shared identity A would now get 422 for its own key.
  const early = await post(mail({ subject: 'B got there first' }), { ...(await bearer(ROLE_HOLDER_B)), 'idempotency-key': key });
  const own = await post(mail(), { ...(await bearer(ROLE_HOLDER)), 'idempotency-key': key });
  assert.equal(early.status, 202);
  assert.equal(own.status, 202, JSON.stringify(own.json));
  assert.notEqual(own.json.id, early.json.id);
  const repeat = await post(mail(), { ...(await bearer(ROLE_HOLDER)), 'idempotency-key': key });
  assert.equal(repeat.json.id, own.json.id, "a repeat of A's request is A's message");
  // The id is not a hash anyone can compute from the caller's name, its app id and a guessable key.
  for (const material of [`senders-by-role\n${key}`, `senders-by-role:${ROLE_HOLDER}\n${key}`, key])
    assert.notEqual(own.json.id, `k-${sha256(material).slice(0, 40)}`);
  assert.match(own.json.id as string, /^k-[0-9a-f]{40}$/);
});

/** Standard Webhooks over the raw body, with the secret docs/api.md says a caller gets for its principal. */
function verifiesWith(
  callback: { webhookId: string; webhookTimestamp: string; webhookSignature: string; body: string },
  principal: string,
) {
  const master = Buffer.from(h.stack.callbacks.secret.replace(/^whsec_/, ''), 'base64');
  const secret = createHmac('sha256', master).update(`exo-smtp-mailer callback signing secret\n${principal}`).digest();
  const expected = createHmac('sha256', secret)
    .update(`${callback.webhookId}.${callback.webhookTimestamp}.${callback.body}`)
    .digest('base64');
  return callback.webhookSignature.split(' ').includes(`v1,${expected}`);
}

test("each caller's callbacks are signed with its own secret: a callback signed for one does not verify with another's", async () => {
  const principals = { auditor: 'auditor', a: `senders-by-role:${ROLE_HOLDER}`, b: `senders-by-role:${ROLE_HOLDER_B}`, orders: 'orders' };
  for (const principal of Object.values(principals)) h.stack.callbacks.principals.add(principal);
  const callbackUrl = `${h.stack.callbacks.url}/callers`;
  const sent = {
    auditor: await post(mail({ callbackUrl, from: 'noreply@contoso.example' }), key('auditor-key')),
    a: await post(mail({ callbackUrl }), await bearer(ROLE_HOLDER)),
    b: await post(mail({ callbackUrl }), await bearer(ROLE_HOLDER_B)),
  };
  for (const [who, response] of Object.entries(sent)) {
    assert.equal(response.status, 202, `${who}: ${JSON.stringify(response.json)}`);
    const id = response.json.id as string;
    const callback = await h.stack.callbacks.waitFor((c) => c.webhookId === `${id}.sent`);
    const own = principals[who as keyof typeof principals];
    assert.equal(callback.verifiedAs, own);
    assert.ok(verifiesWith(callback, own));
    for (const other of Object.values(principals).filter((p) => p !== own))
      assert.ok(!verifiesWith(callback, other), `${own}'s callback must not verify with the secret of ${other}`);
  }
});

test('two applications under one entraRole entry: each has its own daily quota', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 8 && statuses.at(-1) !== 429; i++)
    statuses.push((await post(mail({ subject: `quota ${i}` }), await bearer(ROLE_HOLDER))).status);
  assert.equal(statuses.at(-1), 429, `A used up the entry's dailyQuota of 6: ${statuses.join(', ')}`);
  const b = await post(mail({ subject: 'B still has its own' }), await bearer(ROLE_HOLDER_B));
  assert.equal(b.status, 202, "B's quota is B's: A using up its own leaves B's untouched");
});

test('roles per operation: sending needs Mail.Send; reading a status Mail.Send or MailStatus.Read', async () => {
  const sent = await post(mail({ from: 'orders@contoso.example' }), await bearer(ORDERS));
  const id = sent.json.id as string;
  const reader = await post(mail(), await bearer(READER));
  assert.equal(reader.status, 403, 'MailStatus.Read does not send');
  assert.match(reader.json.detail, /Mail\.Send/);
  assert.notEqual(await get(id, await bearer(READER)), 404, 'MailStatus.Read with readAllStatus reads every status');
  assert.ok([200, 202].includes(await get(id, await bearer(READER))));
  const noRole = await fetch(`${h.host!.url}/api/mail/${id}`, { headers: await bearer(NO_ROLE) });
  assert.equal(noRole.status, 403, 'a token with no role of this API reads nothing');
  assert.match(((await noRole.json()) as { detail: string }).detail, /Mail\.Send or MailStatus\.Read/);
});

test('roles per operation: an Event Grid subscription (either handshake) is confirmed only for a Mail.Send holder', async () => {
  for (const method of ['POST', 'OPTIONS'] as const) {
    const refused = await hook(method, await bearer(NO_ROLE));
    assert.equal(refused.status, 403, `${method} without Mail.Send: ${refused.text}`);
    assert.ok(!refused.text.includes('512d38b6'), 'the validation code is not echoed');
    assert.equal((await hook(method, await bearer(READER))).status, 403, `${method} with MailStatus.Read only`);
    assert.equal((await hook(method, await bearer(ORDERS))).status, 200, `${method} with Mail.Send`);
  }
  const confirmed = await hook('POST', await bearer(ORDERS));
  assert.deepEqual(JSON.parse(confirmed.text), { validationResponse: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6' });
  assert.equal((await hook('POST', key('billing-key'))).status, 200, 'a key caller is bound by its policy, not by roles');
});

test('delegated (user) tokens are refused for every operation, with idtyp or by scp alone', async () => {
  const withIdtyp = await userToken(API);
  const scpOnly = await userToken(API_V1);
  assert.equal(claimsOf(withIdtyp).idtyp, 'user');
  assert.equal(claimsOf(scpOnly).idtyp, undefined);
  assert.equal(claimsOf(scpOnly).scp, 'user_impersonation');
  assert.deepEqual(claimsOf(scpOnly).roles, ['Mail.Send'], 'the user holds the role: only the kind of token refuses it');
  assert.equal(claimsOf(await tokenFor(ORDERS)).idtyp, 'app');
  const own = await post(mail({ from: 'orders@contoso.example' }), await bearer(ORDERS));
  const before = await statusRecords();
  for (const token of [withIdtyp, scpOnly]) {
    const auth = { authorization: `Bearer ${token}` };
    const sent = await post(mail({ from: 'orders@contoso.example' }), auth);
    assert.equal(sent.status, 401);
    assert.match(sent.json.detail, /delegated \(user\) token/);
    assert.equal(await get(own.json.id, auth), 401);
    assert.equal((await hook('POST', auth)).status, 401);
    assert.equal((await hook('OPTIONS', auth)).status, 401);
  }
  assert.equal(await statusRecords(), before, 'nothing recorded for a delegated token');
});

test('the doctor takes the host master key whatever the caller policy: no caller token or key reaches it', () => {
  assert.equal(httpOptions(declared('runDoctor'), () => ({}) as AppServices, true).authLevel, 'admin');
  assert.equal(httpOptions(declared('runDoctor'), () => ({}) as AppServices, false).authLevel, 'admin');
});
