// Status records, the Logic Apps asynchronous pattern, idempotency, claim check and scheduling,
// through the local host over HTTP and the real stack.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, queueLength, type Harness } from './support/harness';
import { encodeQueueMessage } from '../src/storage/queue-message';
import { statusViewSchema } from '../src/status/status-view';
import { mailRequestSchema } from '../src/mail/mail-request';

let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'clientSecret' });
});
after(async () => h?.close());

const json = { 'content-type': 'application/json' };

/** What a Logic Apps HTTP action does: POST, then while 202 wait Retry-After and GET Location. */
async function logicAppsHttpAction(body: unknown, headers: Record<string, string> = {}) {
  let response = await fetch(`${h.host!.url}/api/mail?code=k`, {
    method: 'POST',
    headers: { ...json, ...headers },
    body: JSON.stringify(body),
  });
  const polls: number[] = [];
  while (response.status === 202) {
    const retryAfter = Number(response.headers.get('retry-after'));
    const location = response.headers.get('location');
    assert.ok(location && retryAfter >= 1, 'every 202 carries Location and Retry-After');
    assert.match(location, /\?code=k$/, 'the function key survives into Location');
    polls.push(retryAfter);
    await new Promise((r) => setTimeout(r, Math.min(retryAfter, 2) * 1000));
    response = await fetch(location);
  }
  return { status: response.status, succeeded: response.status < 400, body: await response.json(), polls };
}

test('Logic Apps polling: 202 with Location and Retry-After until sent, then 200 with the outcome', async () => {
  const result = await logicAppsHttpAction({ to: 'la@example.com', subject: 'via logic apps', text: 'x' });
  assert.equal(result.status, 200);
  assert.ok(result.succeeded);
  assert.ok(result.polls.length >= 1);
  assert.equal(result.body.status, 'sent');
  assert.deepEqual(result.body.accepted, ['la@example.com']);
  assert.equal(result.body.lastReply.code, 250);
  assert.equal(result.body.text, undefined, 'the body of the mail is never in the status');
  assert.ok(statusViewSchema.safeParse(result.body).success, 'the answer is what /api/openapi.json describes');
});

test('the API description is served and describes both endpoints from the schemas', async () => {
  const response = await fetch(`${h.host!.url}/api/openapi.json`);
  assert.equal(response.status, 200);
  const document = (await response.json()) as {
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, { properties?: object }> };
  };
  assert.ok(document.paths['/api/mail']?.post && document.paths['/api/mail/{id}']?.get);
  assert.deepEqual(Object.keys(document.components.schemas.MailRequest.properties!).sort(), Object.keys(mailRequestSchema.shape).sort());
});

test('Logic Apps polling: a failed mail ends the action as failed (422) with category and hint', async () => {
  h.stack.smtp.inject({
    stage: 'data',
    reply: '554 5.2.252 SendAsDenied; not allowed to send as this sender',
    when: (c) => c.recipients.includes('denied@example.com'),
  });
  const result = await logicAppsHttpAction({ to: 'denied@example.com', subject: 'denied', text: 'x' });
  assert.equal(result.status, 422);
  assert.equal(result.succeeded, false);
  assert.equal(result.body.mail.status, 'failed');
  assert.equal(result.body.mail.error.category, 'send-as-denied');
  assert.match(result.body.detail, /SendAs/);
  assert.equal(result.body.mail.lastReply.code, 554);
});

test('unknown ids get 404', async () => {
  assert.equal((await fetch(`${h.host!.url}/api/mail/does-not-exist`)).status, 404);
  assert.equal((await fetch(`${h.host!.url}/api/mail/${'%2e%2e'}`)).status, 404);
});

test('Idempotency-Key: same request → same id and one mail; different request → 422; concurrent repeats → one mail', async () => {
  const body = { to: 'idem@example.com', subject: 'once only', text: 'x' };
  const first = await h.post(body, { 'idempotency-key': 'order-1' });
  const second = await h.post(body, { 'idempotency-key': 'order-1' });
  assert.equal(first.status, 202);
  assert.equal(second.status, 202);
  assert.equal(second.json.id, first.json.id);
  await h.waitForFinal(first.json.id);
  const third = await h.post(body, { 'idempotency-key': 'order-1' });
  assert.equal(third.json.id, first.json.id);
  assert.equal(third.json.status, 'sent');

  const other = await h.post({ ...body, subject: 'something else' }, { 'idempotency-key': 'order-1' });
  assert.equal(other.status, 422);
  assert.deepEqual(
    other.json.errors.map((e: { field: string }) => e.field),
    ['Idempotency-Key'],
  );

  const concurrent = await Promise.all(
    Array.from({ length: 5 }, () => h.post({ ...body, subject: 'burst' }, { 'idempotency-key': 'order-2' })),
  );
  const ids = new Set(concurrent.map((r) => r.json.id));
  assert.equal(ids.size, 1);
  assert.ok(concurrent.every((r) => r.status === 202));
  await h.waitForFinal([...ids][0]);
  await new Promise((r) => setTimeout(r, 500));
  const delivered = h.stack.smtp.messages.filter(
    (m) => m.messageId === `<${first.json.id}@contoso.example>` || m.messageId === `<${[...ids][0]}@contoso.example>`,
  );
  assert.equal(delivered.length, 2, 'one mail per key');
});

test('a redelivered queue message is not sent again once sent is recorded', async () => {
  const { json: accepted } = await h.post({ to: 'dup@example.com', subject: 'dup', text: 'x' });
  const sent = await h.waitForFinal(accepted.id);
  // The same message again, as the queue redelivers it (a different one under this id would be dropped as foreign).
  const envelope = {
    version: 1,
    id: accepted.id,
    createdAt: sent.createdAt,
    mail: { from: 'noreply@contoso.example', to: 'dup@example.com', subject: 'dup', text: 'x' },
  };
  await h.runtime.storage.queues.getQueueClient(h.config.queueName).sendMessage(encodeQueueMessage(envelope));
  await h.waitForLog(`${accepted.id} is already sent`);
  assert.equal(h.stack.smtp.messages.filter((m) => m.messageId === `<${accepted.id}@contoso.example>`).length, 1);
  assert.ok(h.logs.some((l) => l.includes(`${accepted.id} is already sent`)));
});

test('a large message is composed once into Blob storage (claim check), streamed to SMTP, and the blob removed once sent', async () => {
  const big = Buffer.alloc(300 * 1024, 7);
  const { json: accepted } = await h.post({
    to: 'big@example.com',
    subject: 'big',
    text: 'x',
    attachments: [{ filename: 'big.bin', content: big.toString('base64') }],
  });
  const payloads = h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer);
  const record = await h.waitForFinal(accepted.id);
  assert.equal(record.status, 'sent');
  assert.equal(record.payloadBlob, `${accepted.id}.eml`);
  assert.equal(await payloads.getBlockBlobClient(record.payloadBlob).exists(), false);
  const mail = await h.received(`<${accepted.id}@contoso.example>`);
  assert.ok(mail.attachments[0].content.equals(big));

  // A late copy of the reference, after the blob is gone, changes nothing.
  const reference = {
    version: 1,
    id: accepted.id,
    createdAt: record.createdAt,
    mime: { blob: record.payloadBlob, from: 'noreply@contoso.example', to: ['big@example.com'] },
  };
  await h.runtime.storage.queues.getQueueClient(h.config.queueName).sendMessage(encodeQueueMessage(reference));
  await h.waitForLog(`${accepted.id} is already sent`);
  assert.equal((await h.runtime.status.get(accepted.id))!.record.status, 'sent');
  assert.equal(h.stack.smtp.messages.filter((m) => m.messageId === `<${accepted.id}@contoso.example>`).length, 1);
});

test('a large message with cc, bcc, an inline image and a schedule: one composed blob, every recipient reached, no Bcc header', async () => {
  const image = Buffer.alloc(80 * 1024, 3);
  const file = Buffer.alloc(200 * 1024, 9);
  const sendAt = new Date(Date.now() + 1500).toISOString();
  const { json: accepted } = await h.post({
    to: 'ann@example.com',
    cc: { name: 'Bob', address: 'bob@example.com' },
    bcc: ['hidden@example.com'],
    subject: 'Quarterly report – draft',
    html: '<p>Chart: <img src="cid:chart"></p>',
    sendAt,
    attachments: [
      { filename: 'chart.png', contentType: 'image/png', content: image.toString('base64'), contentId: 'chart' },
      { filename: 'report.pdf', contentType: 'application/pdf', content: file.toString('base64') },
    ],
  });
  const record = await h.waitForFinal(accepted.id);
  assert.equal(record.status, 'sent');
  assert.equal(record.payloadBlob, `${accepted.id}.eml`);
  const wire = h.stack.smtp.messages.find((m) => m.messageId === `<${accepted.id}@contoso.example>`)!;
  assert.ok(wire.receivedAt >= Date.parse(sendAt), 'not sent before sendAt');
  assert.deepEqual(wire.rcptTo.sort(), ['ann@example.com', 'bob@example.com', 'hidden@example.com']);
  assert.doesNotMatch(wire.raw.subarray(0, wire.raw.indexOf('\r\n\r\n')).toString(), /^bcc:/im);
  const mail = await h.received(`<${accepted.id}@contoso.example>`);
  assert.equal(mail.subject, 'Quarterly report – draft');
  assert.ok(mail.attachments.find((a) => a.filename === 'chart.png')!.content.equals(image));
  assert.equal(mail.attachments.find((a) => a.filename === 'chart.png')!.contentId, '<chart>');
  assert.ok(mail.attachments.find((a) => a.filename === 'report.pdf')!.content.equals(file));
});

test('sendAt holds the message until then; more than 7 days ahead is refused', async () => {
  const sendAt = new Date(Date.now() + 3000).toISOString();
  const { json: accepted } = await h.post({ to: 'later@example.com', subject: 'later', text: 'x', sendAt });
  assert.equal(accepted.sendAt, sendAt);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(
    h.stack.smtp.messages.some((m) => m.messageId === `<${accepted.id}@contoso.example>`),
    false,
  );
  const record = await h.waitForFinal(accepted.id);
  assert.equal(record.status, 'sent');
  const received = h.stack.smtp.messages.find((m) => m.messageId === `<${accepted.id}@contoso.example>`)!;
  assert.ok(received.receivedAt >= Date.parse(sendAt), 'not sent before sendAt');

  const tooLate = await h.post({
    to: 'x@example.com',
    subject: 's',
    text: 'x',
    sendAt: new Date(Date.now() + 8 * 86_400_000).toISOString(),
  });
  assert.equal(tooLate.status, 400);
  assert.deepEqual(
    tooLate.json.errors.map((e: { field: string }) => e.field),
    ['sendAt'],
  );
});

test('the status record keeps no body, no attachment and no token', async () => {
  const { json: accepted } = await h.post({
    to: 'secret@example.com',
    subject: 'private subject',
    text: 'private body',
    attachments: [{ filename: 'a.txt', content: Buffer.from('private attachment').toString('base64') }],
  });
  await h.waitForFinal(accepted.id);
  const entity = await h.runtime.status.table.getEntity(accepted.id, 'status');
  const stored = JSON.stringify(entity);
  for (const secret of ['private body', 'cHJpdmF0ZSBhdHRhY2htZW50', 'private subject', h.stack.clientSecret])
    assert.ok(!stored.includes(secret), secret);
  assert.equal(await queueLength(h.runtime), 0);
});
