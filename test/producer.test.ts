// Producers writing the queue directly: the envelope's JSON Schema file is the one the code generates, and the
// typed helper's messages go through the real worker to the SMTP server, large ones through the payload container.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from './support/harness';
import { createMailProducer, InvalidMailError } from '../src/integrations/producer';
import { envelopeJsonSchema } from '../generators/envelope-schema';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => h?.close());

const producer = () =>
  createMailProducer({
    queue: h.runtime.storage.queues.getQueueClient(h.config.queueName),
    payloads: h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer),
  });

test('schemas/outbox-envelope.schema.json is the schema the worker validates with (npm run schemas)', () => {
  const file = readFileSync(join(__dirname, '..', '..', 'schemas', 'outbox-envelope.schema.json'), 'utf8');
  assert.equal(file, `${JSON.stringify(envelopeJsonSchema(), null, 2)}\n`, 'stale: run npm run schemas');
});

test('a producer message goes through the worker to the SMTP server', { timeout: 60_000 }, async () => {
  const { id, payloadBlob } = await producer().send(
    { from: 'noreply@contoso.example', to: 'ann@example.com', subject: 'From a producer', text: 'Hello' },
    { id: 'producer-small-1' },
  );
  assert.equal(id, 'producer-small-1');
  assert.equal(payloadBlob, undefined);
  const record = await h.waitForFinal(id);
  assert.equal(record.status, 'sent');
  const mail = await h.received(record.smtpMessageId!);
  assert.equal(mail.subject, 'From a producer');
  assert.equal(mail.messageId, '<producer-small-1@contoso.example>');
});

test('a large message is composed into the payload container, and its blob is gone once sent', { timeout: 60_000 }, async () => {
  const content = randomBytes(120 * 1024).toString('base64');
  const { id, payloadBlob } = await producer().send({
    from: 'noreply@contoso.example',
    to: 'ann@example.com',
    subject: 'A large one',
    text: 'See the attachment.',
    attachments: [{ filename: 'data.bin', content }],
  });
  assert.equal(payloadBlob, `${id}.eml`);
  const record = await h.waitForFinal(id);
  assert.equal(record.status, 'sent');
  const mail = await h.received(record.smtpMessageId!);
  assert.equal(mail.attachments[0].content.toString('base64'), content);
  assert.equal(await h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer).getBlobClient(payloadBlob).exists(), false);
});

test('an invalid mail is refused before anything is written, naming every bad field', async () => {
  const queue = h.runtime.storage.queues.getQueueClient(h.config.queueName);
  const before = (await queue.getProperties()).approximateMessagesCount;
  await assert.rejects(
    producer().send({ from: 'noreply@contoso.example', to: 'not an address', subject: 'x\r\nBcc: y@example.com' }),
    (error: unknown) =>
      error instanceof InvalidMailError && ['to', 'subject', 'text'].every((f) => error.errors.some((e) => e.field.startsWith(f))),
  );
  await assert.rejects(producer().send({ to: 'ann@example.com', subject: 'x', text: 'y' } as never), /from: required/);
  await assert.rejects(
    producer().send({ from: 'noreply@contoso.example', to: 'ann@example.com', subject: 'x', text: 'y' }, { id: '../other' }),
  );
  assert.equal((await queue.getProperties()).approximateMessagesCount, before);
});
