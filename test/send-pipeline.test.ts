// End to end: HTTP handler → Azurite queue → local Functions host → queue handler →
// local Entra token endpoint → Exchange-like SMTP server (STARTTLS + XOAUTH2, token checked).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, queueLength, type Harness } from './support/harness';
import { encodeQueueMessage } from '../src/storage/queue-message';

let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'clientSecret', settings: { MAIL_PUBLIC_BASE_URL: 'http://localhost:7071' } });
});
after(async () => h?.close());

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const PDF = Buffer.from('%PDF-1.4\n% test document\n', 'utf8');

test('a full mail goes out with headers, both bodies, an attachment and an inline image', async () => {
  const response = await h.post({
    from: { name: 'Contoso Alerts', address: 'noreply@contoso.example' },
    to: [{ name: 'Ann', address: 'ann@example.com' }, 'bob@example.com'],
    cc: 'carol@example.com',
    bcc: ['dave@example.com'],
    replyTo: 'support@contoso.example',
    subject: 'Quarterly report – ready',
    text: 'The report is attached.',
    html: '<p>The report is attached.</p><img src="cid:logo">',
    attachments: [
      { filename: 'report.pdf', contentType: 'application/pdf', content: PDF.toString('base64') },
      { filename: 'logo.png', contentType: 'image/png', content: PNG.toString('base64'), contentId: 'logo' },
    ],
    headers: { 'X-Correlation-Id': 'run-42' },
    importance: 'high',
  });
  assert.equal(response.status, 202);
  const { id } = response.json;
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(response.headers.get('location'), `http://localhost:7071/api/mail/${id}?code=test-key`);

  const record = await h.waitForFinal(id);
  assert.equal(record.status, 'sent', JSON.stringify(record));
  assert.equal(record.smtpMessageId, `<${id}@contoso.example>`);

  const mail = await h.received(`<${id}@contoso.example>`);
  assert.equal(mail.subject, 'Quarterly report – ready');
  assert.equal(mail.from?.text, '"Contoso Alerts" <noreply@contoso.example>');
  assert.deepEqual(mail.to && !Array.isArray(mail.to) ? mail.to.value.map((a) => a.address) : [], ['ann@example.com', 'bob@example.com']);
  assert.equal(!Array.isArray(mail.cc) && mail.cc?.text, 'carol@example.com');
  assert.equal(mail.bcc, undefined, 'Bcc must not appear in the headers');
  assert.equal(!Array.isArray(mail.replyTo) && mail.replyTo?.text, 'support@contoso.example');
  assert.equal(mail.headers.get('x-correlation-id'), 'run-42');
  assert.equal(mail.headers.get('priority'), 'high'); // mailparser folds Importance / X-Priority into this
  assert.equal(mail.text?.trim(), 'The report is attached.');
  assert.equal(mail.html, '<p>The report is attached.</p><img src="cid:logo">');

  const pdf = mail.attachments.find((a) => a.filename === 'report.pdf');
  assert.ok(pdf && pdf.contentType === 'application/pdf' && pdf.content.equals(PDF));
  const logo = mail.attachments.find((a) => a.filename === 'logo.png');
  assert.ok(logo && logo.content.equals(PNG));
  assert.equal(logo.cid, 'logo');
  assert.equal(logo.contentDisposition, 'inline');

  const received = h.stack.smtp.messages.find((m) => m.messageId === `<${id}@contoso.example>`)!;
  assert.deepEqual(received.rcptTo.sort(), ['ann@example.com', 'bob@example.com', 'carol@example.com', 'dave@example.com']);
  assert.equal(received.mailbox, 'noreply@contoso.example');
  assert.match(received.raw.toString('utf8'), /^Importance: High\r$/m);
});

test('AUTH XOAUTH2 never happens before STARTTLS, on any connection', async () => {
  const response = await h.post({ to: 'x@example.com', subject: 'tls order', text: 'x' });
  await h.waitForFinal(response.json.id);
  assert.ok(h.stack.smtp.connections.length > 0);
  for (const connection of h.stack.smtp.connections) {
    const types = connection.events.map((e) => e.type);
    const auth = types.indexOf('auth');
    if (auth === -1) continue;
    const starttls = types.indexOf('starttls');
    assert.ok(starttls !== -1 && starttls < auth, `connection ${connection.id}: ${types.join(' → ')}`);
  }
});

test('the token is fetched once and reused across messages and connections', async () => {
  const ids = await Promise.all(
    Array.from({ length: 6 }, (_, i) => h.post({ to: `t${i}@example.com`, subject: `cache ${i}`, text: 'x' }).then((r) => r.json.id)),
  );
  for (const id of ids) assert.equal((await h.waitForFinal(id)).status, 'sent');
  // Eight messages so far in this file, over several connections; the token lives an hour.
  assert.ok(h.stack.smtp.connections.length > 1);
  assert.equal(h.stack.entra.hits.tokenRequests, 1);
});

test('the default sender is used when from is absent', async () => {
  const response = await h.post({ to: 'y@example.com', subject: 'default sender', text: 'x' });
  await h.waitForFinal(response.json.id);
  const mail = await h.received(`<${response.json.id}@contoso.example>`);
  assert.equal(mail.from?.text, 'noreply@contoso.example');
});

test('bad requests get a problem naming every bad field, and enqueue nothing', async () => {
  const queued = await queueLength(h.runtime);
  const sent = h.stack.smtp.messages.length;
  const records = async () => {
    let count = 0;
    for await (const _ of h.runtime.status.table.listEntities()) count++;
    return count;
  };
  const recordsBefore = await records();

  const invalid = await h.post({
    from: 'ceo@elsewhere.example',
    to: ['ok@example.com', 'nope'],
    subject: 'a\nb',
    text: 'x',
    attachments: [{ filename: 'f', content: '%%%' }],
  });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.headers.get('content-type'), 'application/problem+json');
  // The sender nobody may use is named with the rest, in the same problem.
  assert.deepEqual(invalid.json.errors.map((e: { field: string }) => e.field).sort(), [
    'attachments[0].content',
    'from',
    'subject',
    'to[1]',
  ]);

  const notAllowed = await h.post({ from: 'ceo@elsewhere.example', to: 'ok@example.com', subject: 's', text: 'x' });
  assert.equal(notAllowed.status, 400);
  assert.deepEqual(
    notAllowed.json.errors.map((e: { field: string }) => e.field),
    ['from'],
  );

  const notJson = await h.post('to=ok@example.com', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(notJson.status, 415);
  const brokenJson = await h.post('{"to":', {});
  assert.equal(brokenJson.status, 400);

  const tooBig = await h.post({ to: 'ok@example.com', subject: 's', text: 'x'.repeat(h.config.maxMessageBytes + 1) });
  assert.equal(tooBig.status, 413);

  assert.equal(await queueLength(h.runtime), queued);
  assert.equal(await records(), recordsBefore, 'no status record for a rejected request');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(h.stack.smtp.messages.length, sent, 'nothing may be sent for a rejected request');
});

test('a producer writing the queue directly (base64 JSON envelope) gets its mail sent', async () => {
  const id = `producer-${Date.now()}`;
  const envelope = {
    version: 1,
    id,
    createdAt: new Date().toISOString(),
    mail: { from: 'noreply@contoso.example', to: 'z@example.com', subject: 'from a producer', text: 'hi' },
  };
  await h.runtime.storage.queues.getQueueClient(h.config.queueName).sendMessage(encodeQueueMessage(envelope));
  assert.equal((await h.waitForFinal(id)).status, 'sent');
  assert.equal((await h.received(`<${id}@contoso.example>`)).subject, 'from a producer');
});

test('a malformed envelope is logged once as a permanent failure and not retried', async () => {
  const queue = h.runtime.storage.queues.getQueueClient(h.config.queueName);
  const poison = h.runtime.storage.queues.getQueueClient(`${h.config.queueName}-poison`);
  await queue.sendMessage(encodeQueueMessage({ version: 99, id: 'broken', mail: {} }));
  await h.waitForLog('malformed outbox message');
  await new Promise((r) => setTimeout(r, 500));
  const failures = h.logs.filter((l) => l.includes('malformed outbox message'));
  assert.equal(failures.length, 1, failures.join('\n'));
  assert.match(failures[0], /version/);
  assert.equal(await queueLength(h.runtime), 0);
  assert.equal((await poison.getProperties()).approximateMessagesCount, 0);
});

test('a message that is not base64 ends in the poison queue after maxDequeueCount, as under the host', async () => {
  const queue = h.runtime.storage.queues.getQueueClient(h.config.queueName);
  const poison = h.runtime.storage.queues.getQueueClient(`${h.config.queueName}-poison`);
  await queue.sendMessage('{"version":1}');
  const deadline = Date.now() + 8000;
  while ((await poison.getProperties()).approximateMessagesCount === 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  const [moved] = (await poison.receiveMessages()).receivedMessageItems;
  assert.equal(moved?.messageText, '{"version":1}');
  assert.equal(h.logs.filter((l) => l.includes('not base64')).length, h.runtime.host.maxDequeueCount - 1);
});
