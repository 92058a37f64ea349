// The delivery report reader against a real IMAP server: Dovecot with implicit TLS and XOAUTH2, each token checked
// by an introspection endpoint that verifies it as the local Entra issued it; tokens from the local Entra through
// MSAL, as SMTP gets them; records in Azurite's table storage. An Exchange NDR (5.1.1), a delay notice, a report
// about nobody's message and 1,000 ordinary messages in the mailbox.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { readAllDeliveryReports } from '../src/bounces/read-all-reports';
import { createReadDeliveryReportsHandler } from '../src/handlers/read-delivery-reports';
import type { QueueClient } from '@azure/storage-queue';
import { createCallbackQueue, decodeCallbackMessage, type CallbackQueue } from '../src/callbacks/callback-queue';
import { createSuppressionList, type SuppressionList } from '../src/suppression/suppression-list';
import { createGetMailStatusHandler } from '../src/handlers/get-mail-status';
import { functionKeyCaller } from '../src/callers/sender-policy';
import type { ReportsConfig } from '../src/bounces/report-reader';
import { createTokenSource, type TokenSource } from '../src/identity/token-source';
import { smtpMessageId } from '../src/mail/envelope';
import { createStorageClients } from '../src/storage/clients';
import { createStatusStore, type StatusStore } from '../src/status/status-store';
import { startAzurite, type Azurite } from '../sandbox/azurite';
import { ensureLocalCertificates } from '../sandbox/certs';
import { startEntraEndpoint, type EntraEndpoint } from '../sandbox/entra-endpoint';
import { EXCHANGE_AUDIENCE, TokenAuthority } from '../sandbox/token-authority';
import { delayNotice, exchangeNdr, ordinaryMessage } from './support/delivery-reports';
import { findDovecot, startDovecot, type Dovecot } from './support/dovecot';
import { freePort } from './support/harness';
import { skipUnlessFound } from './support/machine-tools';

const REPO = join(__dirname, '..', '..');
const DOVECOT = findDovecot();
const NO_DOVECOT = skipUnlessFound(DOVECOT, 'delivery reports read from Dovecot');
const TENANT = '0b7e1c9a-3f2d-4e5b-8a6c-1d2e3f4a5b6c';
const APP = '5f0c2a1e-7b3d-4c8e-9a6f-2e1d0c9b8a7f';
const SECRET = 'local-test-secret';
const MAILBOX = 'orders@contoso.com';
const ORDINARY = 1000;

describe('delivery reports read over IMAP from Dovecot', { skip: NO_DOVECOT, timeout: 300_000 }, () => {
  const authority = new TokenAuthority();
  const introspections = { accepted: 0, refused: 0 };
  let introspection: Server | undefined;
  let entra: EntraEndpoint | undefined;
  let azurite: Azurite | undefined;
  let dovecot: Dovecot | undefined;
  let status: StatusStore;
  let callbackQueue: QueueClient;
  let callbacks: { queue: CallbackQueue };
  let suppressions: SuppressionList;
  let tokens: TokenSource;
  let reports: ReportsConfig;
  const ids = { bounced: 'order-1001', delayed: 'order-1002' };

  before(async () => {
    assert.ok(DOVECOT.path, DOVECOT.missing);
    const tls = await ensureLocalCertificates(join(REPO, '.local', 'certs'));
    // RFC 7662 introspection as Dovecot asks it: the token is verified (signature, audience, lifetime) and, as Exchange
    // grants an app one mailbox, answered with that mailbox as the user it may sign in as.
    introspection = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8').on('data', (chunk: string) => (body = (body + chunk).slice(0, 16_384)));
      request.on('end', () => {
        const token = new URLSearchParams(body).get('token') ?? '';
        const verdict = authority.verify(token, { audience: EXCHANGE_AUDIENCE });
        const active = verdict.ok && verdict.claims.appid === APP && verdict.claims.tid === TENANT;
        if (active) introspections.accepted++;
        else introspections.refused++;
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify(active ? { active: true, username: MAILBOX } : { active: false }));
      });
    });
    await new Promise<void>((resolve) => introspection!.listen(0, '127.0.0.1', resolve));
    const introspectionUrl = `http://127.0.0.1:${(introspection.address() as AddressInfo).port}/introspect`;
    entra = await startEntraEndpoint({ tokens: authority, tls, apps: [{ tenantId: TENANT, clientId: APP, secret: SECRET }] });
    tokens = createTokenSource({
      mode: 'clientSecret',
      tenantId: TENANT,
      clientId: APP,
      clientSecret: SECRET,
      authorityHost: entra.authorityHost,
      federationAudience: 'api://AzureADTokenExchange',
      scope: 'https://outlook.office365.com/.default',
    });
    azurite = await startAzurite();
    const table = createStorageClients({ connectionString: azurite.connectionString }).table('reportstatus');
    await table.createTable();
    status = createStatusStore(table);
    callbackQueue = createStorageClients({ connectionString: azurite.connectionString }).queues.getQueueClient('reportcallbacks');
    await callbackQueue.createIfNotExists();
    callbacks = { queue: createCallbackQueue(callbackQueue) };
    suppressions = createSuppressionList(table);
    dovecot = await startDovecot({ binary: DOVECOT.path, port: await freePort(), tls, introspectionUrl });
    reports = {
      mailboxes: [MAILBOX],
      reader: {
        host: '127.0.0.1',
        port: dovecot.port,
        tlsMinVersion: 'TLSv1.2',
        sourceFolder: 'INBOX',
        reportsFolder: 'Delivery reports',
        maxReports: 100,
        maxReportBytes: 256 * 1024,
        maxScanned: 5000,
        timeoutMs: 120_000,
      },
    };

    const now = new Date().toISOString();
    const sent = (id: string, accepted: string[]) =>
      status.create({
        id,
        status: 'sent',
        attempts: 1,
        createdAt: now,
        updatedAt: now,
        sender: MAILBOX,
        recipientCount: accepted.length,
        accepted,
        smtpMessageId: smtpMessageId(id, MAILBOX),
        callbackUrl: 'https://hooks.fabrikam.com/mail',
      });
    await sent(ids.bounced, ['nobody@fabrikam.com']);
    await sent(ids.delayed, ['slow@fabrikam.com', 'fine@fabrikam.com']);
    for (let i = 0; i < ORDINARY; i++) dovecot.deliver(MAILBOX, ordinaryMessage(i, MAILBOX));
    dovecot.deliver(
      MAILBOX,
      exchangeNdr({
        reportId: '<ndr-1@contoso.prod.outlook.com>',
        original: smtpMessageId(ids.bounced, MAILBOX),
        recipient: 'nobody@fabrikam.com',
        sender: MAILBOX,
      }),
    );
    dovecot.deliver(
      MAILBOX,
      delayNotice({
        reportId: '<delay-1@mx.fabrikam.com>',
        original: smtpMessageId(ids.delayed, MAILBOX),
        recipient: 'slow@fabrikam.com',
        sender: MAILBOX,
      }),
    );
    // A report about a message this deployment never sent (another app shares the mailbox).
    dovecot.deliver(
      MAILBOX,
      exchangeNdr({
        reportId: '<ndr-other@contoso.prod.outlook.com>',
        original: '<not-ours-1@contoso.com>',
        recipient: 'x@fabrikam.com',
        sender: MAILBOX,
      }),
    );
  });
  after(async () => {
    await dovecot?.stop();
    await azurite?.stop();
    await entra?.close();
    await new Promise((resolve) => (introspection ? introspection.close(resolve) : resolve(undefined)));
  });

  const run = async () => {
    const runs = await readAllDeliveryReports(reports, { tokens, status });
    assert.equal(runs.length, 1);
    assert.ok(!('error' in runs[0]), JSON.stringify(runs[0]));
    return runs[0];
  };
  const seen = (files: string[]) => files.filter((name) => /:2,[A-Z]*S/.test(name));

  test('bounced and delayed recorded, both reports moved, the unmatched report and 1,000 ordinary messages untouched', async () => {
    const summary = await run();
    assert.deepEqual(summary, {
      mailbox: MAILBOX,
      scanned: ORDINARY + 3,
      reports: 3,
      recorded: 2,
      alreadyRecorded: 0,
      unmatched: 1,
      notSentYet: 0,
      malformed: 0,
      moved: 2,
    });
    const bounced = (await status.get(ids.bounced))!.record;
    assert.equal(bounced.status, 'bounced');
    assert.deepEqual(
      bounced.recipientOutcomes?.map(({ reportedAt: _at, ...outcome }) => outcome),
      [
        {
          recipient: 'nobody@fabrikam.com',
          outcome: 'bounced',
          status: '5.1.1',
          diagnosticCode: '550 5.1.1 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
          remoteMta: 'fabrikam-com.mail.protection.outlook.com',
        },
      ],
    );
    // The status answer of a bounced message fails visibly, as a failed one does.
    const authenticate = () => Promise.resolve({ ok: true as const, value: functionKeyCaller({ allowedSenders: [MAILBOX] }) });
    const answer = await createGetMailStatusHandler(() => ({ config: { publicBaseUrl: 'https://mail.example' }, status, authenticate }))(
      new HttpRequest({ method: 'GET', url: `https://mail.example/api/mail/${ids.bounced}`, params: { id: ids.bounced } }),
    );
    const body = JSON.parse(answer.body as string) as { type: string; mail: { status: string } };
    assert.deepEqual([answer.status, body.type, body.mail.status], [422, 'urn:mail-sender:problem:bounced', 'bounced']);
    const delayed = (await status.get(ids.delayed))!.record;
    assert.equal(delayed.status, 'sent', 'one recipient delayed, the other not reported: still sent');
    assert.deepEqual(
      delayed.recipientOutcomes?.map((o) => [o.recipient, o.outcome, o.status]),
      [['slow@fabrikam.com', 'delayed', '4.4.1']],
    );

    const inbox = dovecot!.files(MAILBOX);
    assert.equal(inbox.length, ORDINARY + 1, 'the ordinary messages and the unmatched report stay in the inbox');
    assert.deepEqual(seen(inbox), [], 'nothing in the inbox was marked \\Seen');
    assert.equal(dovecot!.files(MAILBOX, 'Delivery reports').length, 2);
    assert.ok(introspections.accepted >= 1 && introspections.refused === 0);
  });

  test('a second run records nothing new; the same report delivered again is recognised and moved, changing nothing', async () => {
    const before = { bounced: (await status.get(ids.bounced))!, delayed: (await status.get(ids.delayed))! };
    const second = await run();
    assert.equal(second.recorded + second.alreadyRecorded + second.moved, 0);
    assert.equal(second.unmatched, 1);

    dovecot!.deliver(
      MAILBOX,
      exchangeNdr({
        reportId: '<ndr-1@contoso.prod.outlook.com>',
        original: smtpMessageId(ids.bounced, MAILBOX),
        recipient: 'nobody@fabrikam.com',
        sender: MAILBOX,
      }),
    );
    const third = await run();
    assert.deepEqual([third.recorded, third.alreadyRecorded, third.moved, third.unmatched], [0, 1, 1, 1]);
    assert.equal((await status.get(ids.bounced))!.etag, before.bounced.etag, 'the bounced record was not written again');
    assert.equal((await status.get(ids.delayed))!.etag, before.delayed.etag);
    assert.equal(dovecot!.files(MAILBOX).length, ORDINARY + 1);
    assert.deepEqual(seen(dovecot!.files(MAILBOX)), []);
  });

  test('a token the server refuses is renewed once; a token that stays refused fails naming the server, never the token', async () => {
    const expired = authority.issue({ audience: EXCHANGE_AUDIENCE, appId: APP, tenantId: TENANT, lifetimeSeconds: -60 });
    const asked: boolean[] = [];
    const stale: TokenSource = {
      getToken: async (options) => {
        asked.push(options?.forceRefresh === true);
        return options?.forceRefresh
          ? tokens.getToken({ ...options, forceRefresh: true })
          : { token: expired, expiresOn: Date.now() + 600_000 };
      },
    };
    const refusedBefore = introspections.refused;
    const [renewed] = await readAllDeliveryReports(reports, { tokens: stale, status });
    assert.ok(!('error' in renewed), JSON.stringify(renewed));
    assert.deepEqual(asked, [false, true]);
    assert.equal(introspections.refused, refusedBefore + 1, 'the expired token reached the server and was refused there');

    const forged: TokenSource = {
      getToken: () => Promise.resolve({ token: `${expired.slice(0, -4)}AAAA`, expiresOn: Date.now() + 600_000 }),
    };
    const [failed] = await readAllDeliveryReports(reports, { tokens: forged, status });
    assert.ok('error' in failed);
    assert.match(failed.error, new RegExp(`IMAP connection to 127\\.0\\.0\\.1:${dovecot!.port} for ${MAILBOX} failed`));
    assert.ok(!failed.error.includes(expired.slice(20, 60)), 'the token is not in the error');
  });

  test('the timer handler reads every configured mailbox and logs the counts, naming the mailbox by its domain only', async () => {
    dovecot!.deliver(
      MAILBOX,
      exchangeNdr({
        reportId: '<ndr-late@contoso.prod.outlook.com>',
        original: smtpMessageId(ids.delayed, MAILBOX),
        recipient: 'fine@fabrikam.com',
        sender: MAILBOX,
      }),
    );
    const lines: string[] = [];
    const context = new InvocationContext({
      functionName: 'readDeliveryReports',
      logHandler: (_level, ...args) => lines.push(args.join(' ')),
    });
    const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
    await createReadDeliveryReportsHandler(() => ({ config: { reports, logAddresses: false }, tokens, status, callbacks, suppressions }))(
      timer,
      context,
    );
    assert.deepEqual(lines, [
      'delivery reports of ***@contoso.com: scanned 1002, reports 2, recorded 1, alreadyRecorded 0, unmatched 1, notSentYet 0, malformed 0, moved 1',
    ]);
    const record = (await status.get(ids.delayed))!.record;
    assert.equal(record.status, 'sent', 'one recipient bounced, the other is delayed: a partial bounce stays sent');
    assert.equal(record.errorCategory, 'some-recipients-bounced');
    assert.deepEqual(
      record.recipientOutcomes?.map((o) => [o.recipient, o.outcome]),
      [
        ['fine@fabrikam.com', 'bounced'],
        ['slow@fabrikam.com', 'delayed'],
      ],
    );
    // The new bounce goes to the mail's callbackUrl: one bounced event on the callback queue, at the report's time.
    const queued = (await callbackQueue.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems.map((item) =>
      decodeCallbackMessage(Buffer.from(item.messageText, 'base64').toString('utf8')),
    );
    const bounce = record.recipientOutcomes?.find((o) => o.outcome === 'bounced');
    assert.deepEqual(queued, [
      { ok: true, message: { version: 1, id: ids.delayed, outcome: 'bounced', occurredAt: bounce?.reportedAt, attempt: 1 } },
    ]);
    // A 5.1.1 is a hard bounce: the address is suppressed for the mail's profile (none here: the default), once.
    assert.deepEqual(await suppressions.get(undefined, 'FINE@fabrikam.com'), {
      profile: 'default',
      address: 'fine@fabrikam.com',
      status: bounce?.status,
      reason: bounce?.diagnosticCode,
      messageId: ids.delayed,
      suppressedAt: bounce?.reportedAt,
    });
    assert.equal(await suppressions.get(undefined, 'slow@fabrikam.com'), undefined, 'a delay suppresses nothing');
  });

  test('without report mailboxes the timer handler reads nothing', async () => {
    const lines: string[] = [];
    const context = new InvocationContext({
      functionName: 'readDeliveryReports',
      logHandler: (_level, ...args) => lines.push(args.join(' ')),
    });
    const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
    const before = introspections.accepted + introspections.refused;
    await createReadDeliveryReportsHandler(() => ({ config: { logAddresses: false }, tokens, status, callbacks, suppressions }))(
      timer,
      context,
    );
    assert.deepEqual(lines, []);
    assert.equal(introspections.accepted + introspections.refused, before, 'no sign-in');
  });
});
