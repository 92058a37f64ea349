// The local servers, exercised through the real clients the app uses: @azure/identity, @azure/msal-node,
// nodemailer and @azure/storage-queue. Run through scripts/with-local-ca.mjs (npm test), which makes Node trust
// the local CA.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManagedIdentityCredential } from '@azure/identity';
import { ConfidentialClientApplication, type Configuration } from '@azure/msal-node';
import { QueueServiceClient } from '@azure/storage-queue';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import XOAuth2 from 'nodemailer/lib/xoauth2';
import { startAzurite } from '../sandbox/azurite';
import { createClientCertificate, ensureLocalCertificates, type ClientCertificate, type LocalTls } from '../sandbox/certs';
import { startEntraEndpoint, type EntraEndpoint } from '../sandbox/entra-endpoint';
import { startManagedIdentityEndpoint, type ManagedIdentityEndpoint } from '../sandbox/managed-identity-endpoint';
import { maxInSlidingWindow, startSmtpSink, type SmtpSink } from '../sandbox/smtp-sink';
import { EXCHANGE_AUDIENCE, TokenAuthority } from '../sandbox/token-authority';

const REPO = join(__dirname, '..', '..');
const SCOPE = `${EXCHANGE_AUDIENCE}/.default`;
const TENANT = '7d1f0a52-3c1e-4b55-9a0e-1f2b3c4d5e6f';
const APP = '5b0c9a1e-8f2d-4e3a-b1c4-d5e6f7a8b9c0';
const MAILBOX = 'sender@contoso.example';

let tls: LocalTls;
before(async () => {
  tls = await ensureLocalCertificates(join(REPO, '.local', 'certs'));
});

describe('TokenAuthority', () => {
  const tokens = new TokenAuthority();
  const issue = (overrides: Partial<Parameters<TokenAuthority['issue']>[0]> = {}) =>
    tokens.issue({ audience: EXCHANGE_AUDIENCE, appId: APP, tenantId: TENANT, lifetimeSeconds: 3600, ...overrides });

  test('issues Entra-shaped tokens of about 2 KB that it verifies', () => {
    const token = issue();
    assert.ok(token.length >= 1900 && token.length <= 2200, `length ${token.length}`);
    const result = tokens.verify(token, { audience: EXCHANGE_AUDIENCE });
    assert.ok(result.ok);
    assert.equal(result.claims.appid, APP);
    assert.equal(result.claims.tid, TENANT);
    assert.deepEqual(result.claims.roles, ['SMTP.SendAsApp']);
    assert.equal(result.claims.exp - result.claims.iat, 3600);
  });

  test('rejects wrong audience, expiry, not-yet-valid, tampering and foreign tokens, and counts them', () => {
    const before = { ...tokens.counters, rejectedBy: { ...tokens.counters.rejectedBy } };
    const reason = (token: string, audience = EXCHANGE_AUDIENCE) => {
      const result = tokens.verify(token, { audience });
      return result.ok ? 'ok' : result.reason;
    };
    assert.equal(reason(issue(), 'https://graph.microsoft.com'), 'wrong-audience');
    assert.equal(reason(issue({ lifetimeSeconds: 0 })), 'expired');
    assert.equal(reason(issue({ startsInSeconds: 120 })), 'not-yet-valid');
    const [header, payload, signature] = issue().split('.');
    const forged = Buffer.from(payload, 'base64url').toString().replace(APP, '00000000-0000-0000-0000-000000000000');
    assert.equal(reason(`${header}.${Buffer.from(forged).toString('base64url')}.${signature}`), 'bad-signature');
    assert.equal(
      reason(new TokenAuthority().issue({ audience: EXCHANGE_AUDIENCE, appId: APP, tenantId: TENANT, lifetimeSeconds: 60 })),
      'bad-signature',
    );
    assert.equal(reason('not-a-jwt'), 'malformed');
    assert.equal(tokens.counters.rejected - before.rejected, 6);
    assert.equal(tokens.counters.rejectedBy.expired - before.rejectedBy.expired, 1);
    assert.equal(tokens.counters.accepted, before.accepted);
  });
});

describe('managed identity endpoint with ManagedIdentityCredential', () => {
  const tokens = new TokenAuthority();
  const userAssigned = '0f6c1c6e-2a8b-4f0d-9c3e-6b7a8c9d0e1f';
  let endpoint: ManagedIdentityEndpoint;
  // The first credential in a process fixes the retry behaviour for all later ones (MSAL keeps the source it
  // creates in a static), so every credential here is created without retries.
  const credential = (clientId?: string) => new ManagedIdentityCredential({ clientId, retryOptions: { maxRetries: 0 } });

  before(async () => {
    endpoint = await startManagedIdentityEndpoint({
      tokens,
      tenantId: TENANT,
      userAssignedClientIds: [userAssigned],
      tokenLifetimeSeconds: 7200,
    });
    // Read by @azure/identity once per process: set before the first getToken.
    Object.assign(process.env, endpoint.env);
  });
  after(async () => {
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
    await endpoint?.close();
  });

  test('system-assigned: a token for Exchange arrives, and the credential caches it process-wide', async () => {
    const token = await credential().getToken(SCOPE);
    const verdict = tokens.verify(token.token, { audience: EXCHANGE_AUDIENCE });
    assert.ok(verdict.ok);
    assert.equal(verdict.claims.appid, endpoint.systemAssignedClientId);
    assert.ok(Math.abs(token.expiresOnTimestamp - (Date.now() + 7200_000)) < 5000);
    assert.equal(endpoint.hits.byClientId[endpoint.systemAssignedClientId], 1);
    assert.equal(endpoint.hits.byResource[EXCHANGE_AUDIENCE], 1);

    await credential().getToken(SCOPE);
    assert.equal(endpoint.hits.byResource[EXCHANGE_AUDIENCE], 1, 'a new credential is served from the shared cache');
  });

  test('user-assigned by client id; an identity the app does not have is refused', async () => {
    const token = await credential(userAssigned).getToken(SCOPE);
    const verdict = tokens.verify(token.token, { audience: EXCHANGE_AUDIENCE });
    assert.ok(verdict.ok && verdict.claims.appid === userAssigned);
    await assert.rejects(credential('3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d').getToken(SCOPE), /Unable to load the proper Managed Identity/);
  });

  test('speaks the 2019-08-01 protocol and refuses a wrong or missing X-IDENTITY-HEADER', async () => {
    const url = `${endpoint.url}?api-version=2019-08-01&resource=${encodeURIComponent(EXCHANGE_AUDIENCE)}`;
    const ok = await fetch(url, { headers: { 'X-IDENTITY-HEADER': endpoint.identityHeader } });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'client_id', 'expires_on', 'resource', 'token_type']);
    assert.match(body.expires_on as string, /^\d{10}$/);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.resource, EXCHANGE_AUDIENCE);

    for (const headers of [{ 'X-IDENTITY-HEADER': 'not-the-secret' }, {}] as Record<string, string>[]) {
      const refused = await fetch(url, { headers });
      assert.equal(refused.status, 401);
      const error = (await refused.json()) as Record<string, unknown>;
      assert.equal(error.statusCode, 401);
      assert.equal(typeof error.correlationId, 'string');
    }
    const oldVersion = await fetch(url.replace('2019-08-01', '2017-09-01'), { headers: { 'X-IDENTITY-HEADER': endpoint.identityHeader } });
    assert.equal(oldVersion.status, 400);
  });

  test('injected failures reach the credential and every request is counted', async () => {
    const resource = 'https://storage.azure.com';
    const before = endpoint.hits.total;
    endpoint.failNext(1, 500, { statusCode: 500, message: 'Injected outage', correlationId: 'c0ffee' });
    await assert.rejects(credential().getToken(`${resource}/.default`), /Injected outage/);
    const token = await credential().getToken(`${resource}/.default`);
    assert.ok(tokens.verify(token.token, { audience: resource }).ok);
    assert.equal(endpoint.hits.total - before, 2);
    assert.equal(endpoint.hits.byResource[resource], 2);
  });
});

describe('Entra endpoint with msal-node ConfidentialClientApplication', () => {
  const tokens = new TokenAuthority();
  let entra: EntraEndpoint;
  let certificate: ClientCertificate;
  const secret = 'local~secret.value';
  // knownAuthorities: MSAL otherwise asks login.microsoftonline.com to vouch for the authority host (instance
  // discovery). Naming the host also works against the real login.microsoftonline.com.
  const msal = (auth: Partial<Configuration['auth']>, tenant = TENANT) =>
    new ConfidentialClientApplication({
      auth: { clientId: APP, authority: entra.authority(tenant), knownAuthorities: [new URL(entra.authorityHost).host], ...auth },
    });
  const tokenError = async (promise: Promise<unknown>) => {
    const error = (await promise.then(
      () => assert.fail('expected the token request to fail'),
      (e: unknown) => e,
    )) as { errorCode?: string; message: string };
    return { code: error.errorCode, aadsts: /AADSTS\d+/.exec(error.message)?.[0] };
  };

  before(async () => {
    certificate = await createClientCertificate();
    entra = await startEntraEndpoint({
      tokens,
      tls,
      apps: [{ tenantId: TENANT, clientId: APP, secret, certificatePem: certificate.certPem }],
      tokenLifetimeSeconds: 600,
    });
  });
  after(() => entra?.close());

  test('client secret: a token for Exchange, lifetime as configured', async () => {
    const result = await msal({ clientSecret: secret }).acquireTokenByClientCredential({ scopes: [SCOPE] });
    assert.ok(result);
    const verdict = tokens.verify(result.accessToken, { audience: EXCHANGE_AUDIENCE });
    assert.ok(verdict.ok && verdict.claims.appid === APP && verdict.claims.tid === TENANT);
    assert.ok(Math.abs(result.expiresOn!.getTime() - (Date.now() + 600_000)) < 5000);
    assert.equal(entra.hits.metadata, 1, 'MSAL read the local openid-configuration');
  });

  test('certificate: MSAL signs a client assertion that the endpoint verifies (SHA-256 and SHA-1 thumbprints)', async () => {
    const before = entra.hits.issued;
    for (const clientCertificate of [
      { thumbprintSha256: certificate.thumbprintSha256, privateKey: certificate.keyPem, x5c: certificate.certPem },
      { thumbprint: certificate.thumbprintSha1, privateKey: certificate.keyPem },
    ]) {
      const result = await msal({ clientCertificate }).acquireTokenByClientCredential({ scopes: [SCOPE] });
      assert.ok(result && tokens.verify(result.accessToken, { audience: EXCHANGE_AUDIENCE }).ok);
    }
    assert.equal(entra.hits.issued - before, 2);
  });

  test('apps registered later get tokens too', async () => {
    const laterApp = '6e5d4c3b-2a19-4876-9543-210fedcba987';
    entra.register({ tenantId: TENANT, clientId: laterApp, secret: 'later' });
    const result = await msal({ clientId: laterApp, clientSecret: 'later' }).acquireTokenByClientCredential({ scopes: [SCOPE] });
    const verdict = tokens.verify(result!.accessToken, { audience: EXCHANGE_AUDIENCE });
    assert.ok(verdict.ok && verdict.claims.appid === laterApp);
    assert.equal(entra.hits.byClientId[laterApp], 1);
  });

  test('refuses like Entra: wrong secret, unknown app, unknown tenant, unregistered certificate', async () => {
    const other = await createClientCertificate();
    assert.deepEqual(await tokenError(msal({ clientSecret: 'wrong' }).acquireTokenByClientCredential({ scopes: [SCOPE] })), {
      code: 'invalid_client',
      aadsts: 'AADSTS7000215',
    });
    assert.deepEqual(
      await tokenError(
        msal({ clientId: '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a', clientSecret: secret }).acquireTokenByClientCredential({
          scopes: [SCOPE],
        }),
      ),
      { code: 'unauthorized_client', aadsts: 'AADSTS700016' },
    );
    assert.deepEqual(
      await tokenError(
        msal({ clientSecret: secret }, '0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d').acquireTokenByClientCredential({ scopes: [SCOPE] }),
      ),
      { code: 'invalid_request', aadsts: 'AADSTS90002' },
    );
    const wrongCertificate = { thumbprintSha256: other.thumbprintSha256, privateKey: other.keyPem };
    assert.deepEqual(await tokenError(msal({ clientCertificate: wrongCertificate }).acquireTokenByClientCredential({ scopes: [SCOPE] })), {
      code: 'invalid_client',
      aadsts: 'AADSTS700027',
    });
    const wrongKey = { thumbprintSha256: certificate.thumbprintSha256, privateKey: other.keyPem };
    assert.deepEqual(await tokenError(msal({ clientCertificate: wrongKey }).acquireTokenByClientCredential({ scopes: [SCOPE] })), {
      code: 'invalid_client',
      aadsts: 'AADSTS700027',
    });
  });

  test("errors have Entra's JSON shape; a scope without /.default is refused; instance discovery answers", async () => {
    const post = (form: Record<string, string>) =>
      fetch(`${entra.authority(TENANT)}/oauth2/v2.0/token`, {
        method: 'POST',
        body: new URLSearchParams(form),
        headers: { 'client-request-id': 'abc-123' },
      });
    const wrongSecret = await post({ grant_type: 'client_credentials', client_id: APP, client_secret: 'nope', scope: SCOPE });
    assert.equal(wrongSecret.status, 401);
    const body = (await wrongSecret.json()) as Record<string, unknown>;
    assert.equal(body.error, 'invalid_client');
    assert.match(body.error_description as string, /^AADSTS7000215: .*\r\nTrace ID: .*\r\nCorrelation ID: abc-123\r\nTimestamp: /s);
    assert.deepEqual(body.error_codes, [7000215]);
    assert.equal(body.correlation_id, 'abc-123');
    assert.match(body.timestamp as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    assert.equal(typeof body.trace_id, 'string');

    const noDefault = await post({ grant_type: 'client_credentials', client_id: APP, client_secret: secret, scope: EXCHANGE_AUDIENCE });
    assert.equal(noDefault.status, 400);
    assert.deepEqual(((await noDefault.json()) as Record<string, unknown>).error_codes, [1002012]);

    const discovery = (await (await fetch(`${entra.authorityHost}/common/discovery/instance?api-version=1.1`)).json()) as {
      metadata: Array<{ aliases: string[] }>;
    };
    assert.deepEqual(discovery.metadata[0].aliases, [new URL(entra.authorityHost).host]);
  });

  test('injected failures come back to MSAL, then service resumes', async () => {
    const before = entra.hits.tokenRequests;
    entra.failNext(1, 503);
    const failed = await tokenError(msal({ clientSecret: secret }).acquireTokenByClientCredential({ scopes: [SCOPE] }));
    assert.equal(failed.aadsts, 'AADSTS90033');
    assert.ok(await msal({ clientSecret: secret }).acquireTokenByClientCredential({ scopes: [SCOPE] }));
    assert.equal(entra.hits.tokenRequests - before, 2);
  });
});

describe('SMTP sink with nodemailer', () => {
  const tokens = new TokenAuthority();
  let sink: SmtpSink;
  const accessToken = (lifetimeSeconds = 3600) =>
    tokens.issue({ audience: EXCHANGE_AUDIENCE, appId: APP, tenantId: TENANT, lifetimeSeconds });
  const transport = (options: { token?: string; user?: string; ignoreTLS?: boolean } = {}) =>
    nodemailer.createTransport({
      host: sink.host,
      port: sink.port,
      secure: false,
      requireTLS: !options.ignoreTLS,
      ignoreTLS: options.ignoreTLS,
      auth: { type: 'OAuth2', user: options.user ?? MAILBOX, accessToken: options.token ?? accessToken() },
    });
  const message = (to = 'rcpt@example.org') => ({ from: MAILBOX, to, subject: 'Hello', text: 'Body' });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => assert.fail('expected the send to fail'),
      (e: unknown) => e as { code?: string; responseCode?: number; response?: string },
    );
  /** An authenticated connection kept open, as a pooled sender keeps it. */
  const authenticatedConnection = async (): Promise<SMTPConnection> => {
    const connection = new SMTPConnection({ host: sink.host, port: sink.port, requireTLS: true });
    connection.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => connection.connect((error) => (error ? reject(error) : resolve())));
    await new Promise<void>((resolve, reject) =>
      connection.login({ oauth2: new XOAuth2({ user: MAILBOX, accessToken: accessToken() }) }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    return connection;
  };

  before(async () => {
    sink = await startSmtpSink({ tls, tokens, mailboxes: [MAILBOX, 'other@contoso.example'], maxConnectionsPerMailbox: 2 });
  });
  after(() => sink?.stop());

  test('accepts a message over STARTTLS + XOAUTH2 with a 2 KB token and records it', async () => {
    const info = await transport().sendMail(message());
    assert.match(info.response, /^250 2\.6\.0 /);
    const received = sink.messages.at(-1)!;
    assert.equal(received.messageId, info.messageId);
    assert.equal(received.mailbox, MAILBOX);
    assert.equal(received.mailFrom, MAILBOX);
    assert.deepEqual(received.rcptTo, ['rcpt@example.org']);
    assert.match(received.raw.toString(), /\r\n\r\nBody/);
    const log = sink.connections.find((c) => c.id === received.connectionId)!;
    assert.deepEqual(
      log.events.map((e) => e.type),
      ['connect', 'starttls', 'auth', 'mail', 'rcpt', 'data'],
    );
    assert.ok(log.events.every((e) => e.ok));
  });

  test('a wrong, expired or foreign token, or an unknown mailbox, gets 535 5.7.3', async () => {
    const foreign = new TokenAuthority().issue({ audience: EXCHANGE_AUDIENCE, appId: APP, tenantId: TENANT, lifetimeSeconds: 3600 });
    const graph = tokens.issue({ audience: 'https://graph.microsoft.com', appId: APP, tenantId: TENANT, lifetimeSeconds: 3600 });
    for (const options of [{ token: foreign }, { token: accessToken(0) }, { token: graph }, { user: 'stranger@contoso.example' }]) {
      const error = await failure(transport(options).sendMail(message()));
      assert.equal(error.code, 'EAUTH');
      assert.equal(error.response, '535 5.7.3 Authentication unsuccessful');
    }
  });

  test('AUTH before STARTTLS is refused and recorded; so is MAIL without AUTH', async () => {
    const countBefore = sink.messages.length;
    const error = await failure(transport({ ignoreTLS: true }).sendMail(message()));
    assert.equal(error.responseCode, 504);
    const log = sink.connections.at(-1)!;
    assert.deepEqual(
      log.events.slice(0, 2).map((e) => [e.type, e.ok]),
      [
        ['connect', true],
        ['auth', false],
      ],
    );
    assert.ok(!log.events.some((e) => e.type === 'starttls'));

    const anonymous = nodemailer.createTransport({ host: sink.host, port: sink.port, ignoreTLS: true });
    const refused = await failure(anonymous.sendMail(message()));
    assert.equal(refused.response, '530 5.7.57 Client not authenticated to send mail');
    assert.equal(sink.messages.length, countBefore);
  });

  test('scripted faults: DATA, RCPT by recipient, connect; each used as often as scripted', async () => {
    sink.inject({ stage: 'data', reply: '554 5.2.252 SendAsDenied; sender not allowed', times: 1 });
    const denied = await failure(transport().sendMail(message()));
    assert.equal(denied.responseCode, 554);
    assert.equal(denied.response, '554 5.2.252 SendAsDenied; sender not allowed');
    await transport().sendMail(message()); // the fault was used up

    sink.inject({ stage: 'rcpt', reply: '550 5.1.10 RESOLVER.ADR.RecipientNotFound', when: (c) => c.recipient === 'gone@example.org' });
    const info = await transport().sendMail({ ...message(), to: ['gone@example.org', 'here@example.org'] });
    assert.deepEqual(info.rejected, ['gone@example.org']);
    assert.deepEqual(sink.messages.at(-1)!.rcptTo, ['here@example.org']);

    sink.inject({ stage: 'connect', reply: '432 4.3.2 Concurrent connections limit exceeded' });
    const busy = await failure(transport().sendMail(message()));
    assert.equal(busy.responseCode, 432);
    sink.clearFaults();
  });

  test('dropDuringData cuts the connection before any reply and nothing is recorded', async () => {
    const countBefore = sink.messages.length;
    sink.inject({ stage: 'dropDuringData', when: (c) => c.mailbox === MAILBOX });
    const error = await failure(transport().sendMail(message()));
    assert.equal(error.responseCode, undefined);
    assert.equal(sink.messages.length, countBefore);
    const dataEvent = sink.connections.at(-1)!.events.find((e) => e.type === 'data')!;
    assert.equal(dataEvent.ok, false);
  });

  test('counts concurrent connections per mailbox and refuses one over the limit with 432 4.3.2', async () => {
    const first = await authenticatedConnection();
    const second = await authenticatedConnection();
    assert.equal(sink.mailbox(MAILBOX).connections, 2);
    await assert.rejects(
      authenticatedConnection(),
      (e: { responseCode?: number; response?: string }) => e.response === '432 4.3.2 Concurrent connections limit exceeded',
    );
    first.quit();
    await once(first, 'end');
    // onClose runs on the next tick of the server's loop; wait for the count rather than for time.
    while (sink.mailbox(MAILBOX).connections !== 1) await new Promise((resolve) => setImmediate(resolve));
    const third = await authenticatedConnection();
    assert.equal(sink.mailbox(MAILBOX).maxConnections, 2);
    second.close();
    third.close();
  });

  test('per-mailbox message times support sliding-minute checks', () => {
    const times = sink.mailbox(MAILBOX).messageTimes;
    assert.equal(times.length, sink.messages.filter((m) => m.mailbox === MAILBOX).length);
    assert.equal(maxInSlidingWindow(times), times.length, 'all sent within a minute');
    assert.equal(maxInSlidingWindow([0, 10_000, 59_999, 60_000, 61_000, 200_000]), 4); // 10 s to 61 s
  });

  test('mailDir gets an .eml per message, onMessage hears of it, and stop() closes open connections at once', async () => {
    const mailDir = mkdtempSync(join(tmpdir(), 'smtp-sink-'));
    const heard: string[] = [];
    const second = await startSmtpSink({ tls, tokens, mailDir, onMessage: (m) => heard.push(m.messageId!) });
    try {
      const info = await nodemailer
        .createTransport({
          host: second.host,
          port: second.port,
          requireTLS: true,
          auth: { type: 'OAuth2', user: MAILBOX, accessToken: accessToken() },
        })
        .sendMail(message());
      assert.deepEqual(heard, [info.messageId]);
      const file = second.messages[0].file!;
      assert.ok(file.startsWith(mailDir) && file.endsWith('.eml'));
      assert.deepEqual(readFileSync(file), second.messages[0].raw);

      const idle = new SMTPConnection({ host: second.host, port: second.port, requireTLS: true });
      idle.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => idle.connect((error) => (error ? reject(error) : resolve())));
      const started = Date.now();
      await Promise.all([second.stop(), once(idle, 'end')]);
      assert.ok(Date.now() - started < 500, `stop took ${Date.now() - started} ms`);
    } finally {
      await second.stop();
      rmSync(mailDir, { recursive: true, force: true });
    }
  });
});

describe('Azurite', () => {
  test('starts all three services on free ports; a queue message round-trips; stop() ends the process', async () => {
    const azurite = await startAzurite();
    try {
      assert.match(azurite.connectionString, new RegExp(`QueueEndpoint=http://127\\.0\\.0\\.1:${azurite.queuePort}/devstoreaccount1;`));
      assert.equal(new Set([azurite.blobPort, azurite.queuePort, azurite.tablePort]).size, 3);
      const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient('roundtrip');
      await queue.create();
      await queue.sendMessage('hello from the test');
      const received = await queue.receiveMessages();
      assert.equal(received.receivedMessageItems[0]?.messageText, 'hello from the test');
    } finally {
      await azurite.stop();
    }
    assert.throws(() => process.kill(azurite.pid, 0), { code: 'ESRCH' });
    assert.equal(await accepts(azurite.queuePort), false);
  });

  test('refuses to start on a busy port, naming it', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as AddressInfo).port;
    try {
      await assert.rejects(startAzurite({ ports: { queue: port } }), new RegExp(`queue port ${port}`));
    } finally {
      squatter.close();
    }
  });
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
