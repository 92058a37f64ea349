// Who may call, as whom: Entra access tokens (by app id or app role) and caller keys, each with its own senders,
// recipient domains, quota and status visibility — against the local Entra endpoint's real RS256 tokens and JWKS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startHarness, queueLength, type Harness } from './support/harness';
import { LOCAL_TENANT_ID } from '../src/local/stack';
import { EXCHANGE_AUDIENCE } from '../src/local/token-authority';
import { httpOptions, FUNCTIONS } from '../src/api/function-table';
import type { Runtime } from '../src/runtime';

const API = 'api://exo-mailer-local';
const OTHER_TENANT = '00000000-0000-4000-8000-0000000000f2';
const app = (n: number) => `00000000-0000-4000-8000-0000000ca11${n}`;
const ORDERS = app(1); // a caller by app id, with the Mail.Send role
const ROLE_HOLDER = app(2); // no entry of its own: a caller through its Mail.Send role
const NO_ROLE = app(3); // a caller by app id whose token lacks Mail.Send
const STRANGER = app(4); // not a caller at all
const FOREIGN = app(5); // another tenant's app
const SECRET = 'local-caller-secret';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const CALLERS = [
  { name: 'orders', entraAppId: ORDERS, senders: ['orders@contoso.example'] },
  { name: 'no-role', entraAppId: NO_ROLE, senders: ['orders@contoso.example'] },
  { name: 'senders-by-role', entraRole: 'Mail.Send', senders: ['noreply@contoso.example'], defaultSender: 'noreply@contoso.example' },
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
    settings: { MAIL_CALLERS: JSON.stringify(CALLERS), MAIL_API_AUDIENCE: API, MAIL_API_TENANT_ID: LOCAL_TENANT_ID },
  });
  for (const clientId of [ORDERS, ROLE_HOLDER, NO_ROLE, STRANGER])
    h.stack.entra.register({ tenantId: LOCAL_TENANT_ID, clientId, secret: SECRET });
  h.stack.entra.register({ tenantId: OTHER_TENANT, clientId: FOREIGN, secret: SECRET });
  h.stack.entra.registerApi({
    tenantId: LOCAL_TENANT_ID,
    audience: API,
    roles: { [ORDERS]: ['Mail.Send'], [ROLE_HOLDER]: ['Mail.Send'], [STRANGER]: ['Mail.Read'] },
  });
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
const mail = (extra: Record<string, unknown> = {}) => ({ to: 'someone@example.com', subject: 'callers', text: 'x', ...extra });

async function statusRecords(): Promise<number> {
  let count = 0;
  for await (const entity of h.runtime.storage.table(h.config.statusTable).listEntities()) if (entity.rowKey === 'status') count++;
  return count;
}

test('with MAIL_CALLERS the host lets requests through and the app authenticates them', () => {
  const options = httpOptions(FUNCTIONS.sendMail, () => ({}) as Runtime, true);
  assert.equal(options.authLevel, 'anonymous');
  assert.equal(httpOptions(FUNCTIONS.sendMail, () => ({}) as Runtime, false).authLevel, 'function');
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
