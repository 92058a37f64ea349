// The sandbox's IMAP server: imapflow signs in with XOAUTH2 (tokens checked as the SMTP server checks them) and does
// what the delivery report reader does; the reader's own Dovecot scenario gives the same counts here; hostile input
// is bounded; and, through the real path (send, chaos recipients, report in the sending mailbox, IMAP, reader), a
// bounce is recorded as bounced 5.1.1, a delay as delayed, and a good address stays sent.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { ImapFlow } from 'imapflow';
import { InvocationContext } from '@azure/functions';
import { startHarness, type Harness } from './support/harness';
import { delayNotice, exchangeNdr, ordinaryMessage } from './support/delivery-reports';
import { readAllDeliveryReports } from '../src/bounces/read-all-reports';
import { createReadDeliveryReportsHandler } from '../src/handlers/read-delivery-reports';
import { smtpMessageId } from '../src/mail/envelope';
import { EXCHANGE_AUDIENCE } from '../sandbox/token-authority';
import { LOCAL_CLIENT_ID, LOCAL_FABRIKAM_CLIENT_ID, LOCAL_FABRIKAM_TENANT_ID, LOCAL_SENDER, LOCAL_TENANT_ID } from '../sandbox/stack';
import { MAX_LINE_BYTES, MAX_LITERAL_BYTES } from '../sandbox/imap-server';

let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'clientSecret', stack: { reportDelayMs: 100 } });
});
after(async () => h?.close());

const token = (tenantId = LOCAL_TENANT_ID, appId = LOCAL_CLIENT_ID) =>
  h.stack.tokens.issue({ audience: EXCHANGE_AUDIENCE, appId, tenantId, lifetimeSeconds: 600 });

function client(mailbox: string, accessToken: string): ImapFlow {
  const imap = new ImapFlow({
    host: h.stack.imap.host,
    port: h.stack.imap.port,
    secure: true,
    auth: { user: mailbox, accessToken },
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: 10_000,
  });
  imap.on('error', () => undefined);
  return imap;
}

test('imapflow signs in with XOAUTH2 and lists, creates, selects, searches, fetches and moves as the reader does', async () => {
  const mailbox = 'imapflow@contoso.example';
  const report = exchangeNdr({
    reportId: '<r1@sandbox>',
    original: '<o1@contoso.example>',
    recipient: 'bounce@example.com',
    sender: mailbox,
  });
  h.stack.mailboxes.deliver(mailbox, Buffer.from(ordinaryMessage(1, mailbox)));
  h.stack.mailboxes.deliver(mailbox, Buffer.from(report));
  const imap = client(mailbox, token());
  await imap.connect();
  try {
    assert.deepEqual(
      (await imap.list()).map((f) => f.path),
      ['INBOX'],
    );
    await imap.mailboxCreate('Delivery reports');
    const lock = await imap.getMailboxLock('INBOX');
    try {
      const uids = (await imap.search({ all: true }, { uid: true })) || [];
      assert.deepEqual(uids, [1, 2]);
      const structures = await imap.fetchAll('1:2', { uid: true, bodyStructure: true }, { uid: true });
      assert.deepEqual(
        structures.map((m) => [m.uid, m.bodyStructure?.type, m.bodyStructure?.parameters?.['report-type']]),
        [
          [1, 'text/plain', undefined],
          [2, 'multipart/report', 'delivery-status'],
        ],
      );
      assert.deepEqual(
        structures[1].bodyStructure?.childNodes?.map((c) => c.type),
        ['text/plain', 'message/delivery-status', 'text/rfc822-headers'],
      );
      const whole = await imap.fetchOne('2', { uid: true, source: true }, { uid: true });
      assert.equal(whole && whole.source?.toString(), report);
      const head = await imap.fetchOne('2', { uid: true, source: { maxLength: 100 } }, { uid: true });
      assert.equal(head && head.source?.toString(), report.slice(0, 100));
      const moved = await imap.messageMove('2', 'Delivery reports', { uid: true });
      assert.ok(moved);
      assert.deepEqual([...(moved.uidMap ?? new Map<number, number>())], [[2, 1]]);
    } finally {
      lock.release();
    }
    await imap.logout();
  } finally {
    imap.close();
  }
  const inbox = h.stack.mailboxes.folder(mailbox, 'INBOX')!.messages;
  assert.deepEqual(
    inbox.map((m) => [m.uid, [...m.flags]]),
    [[1, []]],
    'the ordinary message stays, not marked \\Seen',
  );
  assert.equal(h.stack.mailboxes.folder(mailbox, 'Delivery reports')!.messages[0].raw.toString(), report);
});

test('a token the SMTP server would refuse is refused here too: another tenant, expired, forged', async () => {
  const expired = h.stack.tokens.issue({
    audience: EXCHANGE_AUDIENCE,
    appId: LOCAL_CLIENT_ID,
    tenantId: LOCAL_TENANT_ID,
    lifetimeSeconds: -60,
  });
  for (const refused of [token(LOCAL_FABRIKAM_TENANT_ID, LOCAL_FABRIKAM_CLIENT_ID), expired, `${token().slice(0, -4)}AAAA`]) {
    const imap = client(LOCAL_SENDER, refused);
    await assert.rejects(imap.connect(), (error: { authenticationFailed?: boolean }) => error.authenticationFailed === true);
    imap.close();
  }
  const fabrikam = client('noreply@fabrikam.example', token(LOCAL_FABRIKAM_TENANT_ID, LOCAL_FABRIKAM_CLIENT_ID));
  await fabrikam.connect();
  await fabrikam.logout();
});

/** Writes `lines` on a raw TLS connection and gives back all the server said until it closed (bounded). */
async function rawSession(write: (send: (text: string) => void) => void): Promise<string> {
  const socket = tlsConnect({ host: 'localhost', port: h.stack.imap.port });
  let said = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (said += chunk));
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  write((text) => socket.write(text));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => (socket.destroy(), resolve()), 5000);
    socket.once('close', () => (clearTimeout(timer), resolve()));
  });
  return said;
}

test('hostile input: commands before sign-in, an overlong line, an oversized literal, a LOGIN with a password', async () => {
  const said = await rawSession((send) => send('a1 SELECT INBOX\r\na2 LOGIN user password\r\na3 UID FETCH 1 BODY[]\r\na4 LOGOUT\r\n'));
  assert.match(said, /^a1 BAD /m);
  assert.match(said, /^a2 NO LOGIN failed/m);
  assert.match(said, /^a3 BAD /m);
  assert.match(said, /^a4 OK /m);
  assert.match(await rawSession((send) => send(`a1 NOOP ${'x'.repeat(MAX_LINE_BYTES + 10)}`)), /^\* BYE Line too long/m);
  assert.match(await rawSession((send) => send(`a1 CREATE {${MAX_LITERAL_BYTES + 1}}\r\n`)), /^\* BYE Literal too large/m);
});

describe('the reader’s Dovecot scenario against the sandbox', () => {
  const mailbox = 'orders@contoso.example';
  const ids = { bounced: 'sbx-order-1001', delayed: 'sbx-order-1002' };
  const reports = () => ({ ...h.config.reports!, mailboxes: [mailbox] });

  test('bounced and delayed recorded and moved; the unmatched report and 1,000 ordinary messages untouched; a second run changes nothing', async () => {
    const now = new Date().toISOString();
    const sent = (id: string, accepted: string[]) =>
      h.runtime.status.create({
        id,
        status: 'sent',
        attempts: 1,
        createdAt: now,
        updatedAt: now,
        sender: mailbox,
        recipientCount: accepted.length,
        accepted,
        smtpMessageId: smtpMessageId(id, mailbox),
      });
    await sent(ids.bounced, ['nobody@fabrikam.com']);
    await sent(ids.delayed, ['slow@fabrikam.com', 'fine@fabrikam.com']);
    for (let i = 0; i < 1000; i++) h.stack.mailboxes.deliver(mailbox, Buffer.from(ordinaryMessage(i, mailbox)));
    const deliver = (raw: string) => h.stack.mailboxes.deliver(mailbox, Buffer.from(raw));
    deliver(
      exchangeNdr({
        reportId: '<ndr-1@x>',
        original: smtpMessageId(ids.bounced, mailbox),
        recipient: 'nobody@fabrikam.com',
        sender: mailbox,
      }),
    );
    deliver(
      delayNotice({
        reportId: '<delay-1@x>',
        original: smtpMessageId(ids.delayed, mailbox),
        recipient: 'slow@fabrikam.com',
        sender: mailbox,
      }),
    );
    deliver(
      exchangeNdr({ reportId: '<ndr-other@x>', original: '<not-ours-1@contoso.example>', recipient: 'x@fabrikam.com', sender: mailbox }),
    );

    const [first] = await readAllDeliveryReports(reports(), { tokens: h.runtime.tokens, status: h.runtime.status });
    assert.deepEqual(first, {
      mailbox,
      scanned: 1003,
      reports: 3,
      recorded: 2,
      alreadyRecorded: 0,
      unmatched: 1,
      notSentYet: 0,
      malformed: 0,
      moved: 2,
    });
    assert.equal((await h.runtime.status.get(ids.bounced))!.record.status, 'bounced');
    assert.deepEqual(
      (await h.runtime.status.get(ids.delayed))!.record.recipientOutcomes?.map((o) => [o.recipient, o.outcome, o.status]),
      [['slow@fabrikam.com', 'delayed', '4.4.1']],
    );
    const inbox = h.stack.mailboxes.folder(mailbox, 'INBOX')!.messages;
    assert.equal(inbox.length, 1001);
    assert.equal(inbox.filter((m) => m.flags.size > 0).length, 0, 'nothing in the inbox was flagged');
    assert.equal(h.stack.mailboxes.folder(mailbox, 'Delivery reports')!.messages.length, 2);

    const [second] = await readAllDeliveryReports(reports(), { tokens: h.runtime.tokens, status: h.runtime.status });
    assert.ok(!('error' in second), JSON.stringify(second));
    assert.deepEqual([second.recorded, second.alreadyRecorded, second.moved, second.unmatched], [0, 0, 0, 1]);
  });
});

test('in the sandbox: bounce@, delay@ and a good address, read through IMAP by the timer handler: bounced 5.1.1, delayed, sent', async () => {
  const ids: Record<string, string> = {};
  for (const to of ['bounce@example.com', 'delay@example.com', 'good@example.com']) {
    const { status, json } = await h.post({ from: LOCAL_SENDER, to, subject: `to ${to}`, text: 'x' });
    assert.equal(status, 202);
    ids[to] = json.id as string;
    assert.equal((await h.waitForFinal(ids[to])).status, 'sent');
  }
  // Both reports land a report delay after their 250 (bounded wait).
  const deadline = Date.now() + 10_000;
  while (h.stack.mailboxes.folder(LOCAL_SENDER, 'INBOX')!.messages.length < 2) {
    assert.ok(Date.now() < deadline, 'the two reports did not arrive');
    await new Promise((r) => setTimeout(r, 50));
  }
  const lines: string[] = [];
  const context = new InvocationContext({
    functionName: 'readDeliveryReports',
    logHandler: (_level, ...args) => lines.push(args.join(' ')),
  });
  const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
  const { config, tokens, status, callbacks, suppressions } = h.runtime;
  await createReadDeliveryReportsHandler(() => ({
    config: { ...config, reports: { ...config.reports!, mailboxes: [LOCAL_SENDER] } },
    tokens,
    status,
    callbacks,
    suppressions,
  }))(timer, context);
  assert.match(lines.join('\n'), /recorded 2/);
  const bounced = (await status.get(ids['bounce@example.com']))!.record;
  assert.equal(bounced.status, 'bounced');
  assert.deepEqual(
    bounced.recipientOutcomes?.map((o) => [o.recipient, o.outcome, o.status]),
    [['bounce@example.com', 'bounced', '5.1.1']],
  );
  assert.equal((await suppressions.get(bounced.profile, 'bounce@example.com'))?.status, '5.1.1', 'the hard bounce is suppressed');
  assert.equal(await suppressions.get(bounced.profile, 'delay@example.com'), undefined, 'a delay is not');
  const delayed = (await status.get(ids['delay@example.com']))!.record;
  assert.equal(delayed.status, 'sent');
  assert.deepEqual(
    delayed.recipientOutcomes?.map((o) => [o.recipient, o.outcome]),
    [['delay@example.com', 'delayed']],
  );
  const good = (await status.get(ids['good@example.com']))!.record;
  assert.equal(good.status, 'sent');
  assert.equal(good.recipientOutcomes, undefined);
  assert.equal(h.stack.mailboxes.folder(LOCAL_SENDER, 'INBOX')!.messages.length, 0, 'both reports moved out of the inbox');
});
