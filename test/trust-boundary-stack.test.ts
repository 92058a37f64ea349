// The door with the real parts behind it (Azurite, local host over HTTP, Exchange-like SMTP server): payload
// blobs outside the payload container, forged Host headers, bodies over the limit, respelled idempotent repeats.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { startHarness, type Harness } from './support/harness';
import { PayloadNameError } from '../src/mail/outbox';
import { encodeQueueMessage } from '../src/storage/queue-message';
import { maxRequestBytes } from '../src/intake/accept-mail';

const MAX_MESSAGE_BYTES = 64 * 1024;
let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'clientSecret', settings: { MAIL_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) } });
});
after(async () => h?.close());

const mailJson = (to: string) => JSON.stringify({ from: 'noreply@contoso.example', to, subject: 'stolen', text: 'x' });

test('an envelope naming a blob outside its own payload is refused: the blob is neither read, sent nor deleted', async () => {
  const victim = h.runtime.storage.blobs.getContainerClient('victim');
  await victim.createIfNotExists();
  await victim.getBlockBlobClient('mail.json').uploadData(Buffer.from(mailJson('victim@example.com')));
  const payloads = h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer);
  await payloads.getBlockBlobClient('someone-else.json').uploadData(Buffer.from(mailJson('other@example.com')));

  const names = [
    '../victim/mail.json',
    'a/b.json',
    '..%2fvictim%2fmail.json',
    '..\\victim\\mail.json',
    '..',
    'someone-else.json',
    'trav-7.JSON',
  ];
  const queue = h.runtime.storage.queues.getQueueClient(h.config.queueName);
  for (const [i, mailBlob] of names.entries()) {
    await queue.sendMessage(encodeQueueMessage({ version: 1, id: `trav-${i}`, createdAt: new Date().toISOString(), mailBlob }));
  }
  const refusals = () => h.logs.filter((l) => l.includes('malformed outbox message') && l.includes('mailBlob'));
  // The refusal lines do not name the id (it is part of what is malformed): wait until there is one per message.
  for (const deadline = Date.now() + 15_000; refusals().length < names.length && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(refusals().length, names.length, refusals().join('\n'));
  assert.ok(await victim.getBlockBlobClient('mail.json').exists(), 'the blob in another container is still there');
  assert.ok(await payloads.getBlockBlobClient('someone-else.json').exists(), "another message's payload is still there");
  assert.equal(
    h.stack.smtp.messages.filter((m) => m.rcptTo.some((r) => r === 'victim@example.com' || r === 'other@example.com')).length,
    0,
  );
});

test('the outbox refuses a traversing name before the blob client sees it', async () => {
  const victim = h.runtime.storage.blobs.getContainerClient('victim');
  await victim.createIfNotExists();
  await victim.getBlockBlobClient('keep.json').uploadData(Buffer.from('{}'));
  await assert.rejects(h.runtime.outbox.loadPayload('../victim/keep.json', 1024), PayloadNameError);
  await assert.rejects(h.runtime.outbox.deletePayload('../victim/keep.json'), PayloadNameError);
  assert.ok(await victim.getBlockBlobClient('keep.json').exists());
});

/** A raw HTTP request to the local host, with whatever headers a hostile client sends. */
function raw(
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const { port } = new URL(h.host!.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', headers, setHost: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('Location comes from the configured base URL, never from a forged Host header', async () => {
  const body = JSON.stringify({ to: 'host@example.com', subject: 'host', text: 'x' });
  const posted = await raw(
    '/api/mail?code=k',
    { Host: 'evil.example', 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
    body,
  );
  assert.equal(posted.status, 202);
  const location = String(posted.headers.location);
  assert.ok(location.startsWith(`${h.host!.url}/api/mail/`), location);
  assert.ok(!location.includes('evil.example'));
  const polled = await raw(new URL(location).pathname + '?code=k', { Host: 'evil.example' });
  assert.ok(!String(polled.headers.location ?? '').includes('evil.example'));
  const badHost = await raw('/api/mail/x', { Host: 'a b:c' });
  assert.equal(badHost.status, 404, 'a malformed Host header is not a server error');
});

test('a malformed percent-escape in the path is a 400, not a 500', async () => {
  assert.equal((await raw('/api/mail/%ZZ', {})).status, 400);
});

test('a declared Content-Length over the limit is refused before the body is read', async () => {
  const limit = maxRequestBytes(MAX_MESSAGE_BYTES);
  const { port } = new URL(h.host!.url);
  const result = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path: '/api/mail',
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(60 * 1024 * 1024) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode!, sent: req.socket?.bytesWritten ?? 0 });
      req.destroy();
    });
    req.on('error', (error) => (error.message.includes('socket hang up') ? undefined : reject(error)));
    req.write('{"to":');
    req.flushHeaders();
  });
  assert.equal(result.status, 413);
  assert.ok(limit < 60 * 1024 * 1024);
});

test('a chunked body is cut off at the limit with 413, not read to its end', async () => {
  const limit = maxRequestBytes(MAX_MESSAGE_BYTES);
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const total = 220 * 1024 * 1024;
  const { port } = new URL(h.host!.url);
  const result = await new Promise<{ status: number; written: number }>((resolve) => {
    let written = 0;
    let status = 0;
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path: '/api/mail',
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
    });
    req.on('response', (res) => {
      status = res.statusCode!;
      res.resume();
    });
    const done = () => resolve({ status, written });
    req.on('error', done);
    req.on('close', done);
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  assert.equal(result.status, 413);
  assert.ok(result.written < total / 4, `the client could write ${result.written} bytes of ${total} (limit ${limit})`);
});

test('an Idempotency-Key repeat is recognised however the request is spelled; a different mail still gets 422', async () => {
  const first = await h.post({ to: 'canon@example.com', subject: 'canonical', text: 'x' }, { 'idempotency-key': 'canon-1' });
  const respelled = await h.post('{"text":"x","subject":"canonical","to":["canon@EXAMPLE.com"],"from":"noreply@contoso.example"}', {
    'idempotency-key': 'canon-1',
  });
  assert.equal(first.status, 202);
  assert.equal(respelled.status, 202, JSON.stringify(respelled.json));
  assert.equal(respelled.json.id, first.json.id);
  const different = await h.post({ to: 'canon@example.com', subject: 'canonical', text: 'y' }, { 'idempotency-key': 'canon-1' });
  assert.equal(different.status, 422);
  await h.waitForFinal(first.json.id);
  assert.equal(h.stack.smtp.messages.filter((m) => m.messageId === `<${first.json.id}@contoso.example>`).length, 1);
});

test('an A-label recipient reaches the server as an A-label in RCPT TO and in To:', async () => {
  const { json } = await h.post({ to: 'user@xn--bcher-kva.example', subject: 'idn', text: 'x' });
  assert.equal((await h.waitForFinal(json.id)).status, 'sent');
  const received = h.stack.smtp.messages.find((m) => m.messageId === `<${json.id}@contoso.example>`)!;
  const commands = h.stack.smtp.connections.find((c) => c.id === received.connectionId)!.commands;
  assert.ok(commands.includes('RCPT TO:<user@xn--bcher-kva.example>'), commands.join('\n'));
  assert.ok(!commands.some((line) => /[\u0080-\uffff]/.test(line)), 'no command line carries non-ASCII');
  assert.match(received.raw.toString('latin1'), /^To: user@xn--bcher-kva\.example\r$/m);
});

test("queue messages naming another mail's id neither fail, send nor close it: the real mail is sent as asked", async () => {
  // Scheduled a few seconds ahead, so the forged messages reach the worker while the real one waits on the queue.
  const sendAt = new Date(Date.now() + 8_000).toISOString();
  const { status, json } = await h.post({ to: 'victim@example.com', subject: 'the real one', text: 'x', sendAt });
  assert.equal(status, 202);
  const id = json.id as string;
  const createdAt = (await h.runtime.status.get(id))!.record.createdAt;
  const forged = [
    { version: 99, id },
    { version: 1, id, createdAt, mail: { from: 'noreply@contoso.example', to: 'attacker@evil.example', subject: 'mine', text: 'x' } },
    { version: 1, id, createdAt, mailBlob: `${id}.json` },
  ];
  const queue = h.runtime.storage.queues.getQueueClient(h.config.queueName);
  for (const item of forged) await queue.sendMessage(encodeQueueMessage(item));
  const refusals = () => h.logs.filter((l) => l.includes('malformed outbox message') && (l.includes('version') || l.includes(id)));
  for (const deadline = Date.now() + 15_000; refusals().length < forged.length && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(refusals().length, forged.length, refusals().join('\n'));
  const meanwhile = (await h.runtime.status.get(id))!.record;
  assert.ok(!['failed', 'sent'].includes(meanwhile.status), `the forged messages came first, and left it ${meanwhile.status}`);

  const final = await h.waitForFinal(id, 30_000);
  assert.equal(final.status, 'sent', JSON.stringify(final));
  const delivered = h.stack.smtp.messages.filter((m) => m.messageId === `<${id}@contoso.example>`);
  assert.deepEqual(
    delivered.map((m) => m.rcptTo),
    [['victim@example.com']],
  );
  assert.equal(h.stack.smtp.messages.filter((m) => m.rcptTo.includes('attacker@evil.example')).length, 0);
});

test(
  "a producer's payload over MAIL_MAX_MESSAGE_BYTES fails as too large: measured before it is read, never sent",
  { timeout: 60_000 },
  async () => {
    const payloads = h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer);
    const queue = h.runtime.storage.queues.getQueueClient(h.config.queueName);
    const mail = (text: string) => ({ from: 'noreply@contoso.example', to: 'big@example.com', subject: 'big', text });
    const eml = (bytes: number) => `From: noreply@contoso.example\r\nTo: big@example.com\r\nSubject: big\r\n\r\n${'x'.repeat(bytes)}\r\n`;
    const cases: Array<[string, string, string, Record<string, unknown>, RegExp]> = [
      ['3 MB payload blob', 'big-json-1', JSON.stringify(mail('x'.repeat(3 * 1024 * 1024))), {}, /big-json-1\.json is \d+ bytes; at most/],
      [
        '200 KB mail in a small blob',
        'big-json-2',
        JSON.stringify(mail('x'.repeat(200 * 1024))),
        {},
        /come to \d+ bytes; MAIL_MAX_MESSAGE_BYTES is 65536/,
      ],
      ['2 MB composed message', 'big-eml-1', eml(2 * 1024 * 1024), { mime: true }, /big-eml-1\.eml is \d+ bytes; at most/],
    ];
    for (const [, id, content, { mime }] of cases) {
      await payloads.getBlockBlobClient(`${id}${mime ? '.eml' : '.json'}`).uploadData(Buffer.from(content));
      const reference = mime
        ? { mime: { blob: `${id}.eml`, from: 'noreply@contoso.example', to: ['big@example.com'] } }
        : { mailBlob: `${id}.json` };
      await queue.sendMessage(encodeQueueMessage({ version: 1, id, createdAt: new Date().toISOString(), ...reference }));
    }
    for (const [what, id, , , hint] of cases) {
      const record = await h.waitForFinal(id, 30_000);
      assert.deepEqual([record.status, record.errorCategory], ['failed', 'message-too-large'], what);
      assert.match(record.hint ?? '', hint, what);
      assert.equal(record.attempts, 0, `${what}: no SMTP attempt`);
    }
    assert.equal(h.stack.smtp.messages.filter((m) => m.rcptTo.includes('big@example.com')).length, 0);
  },
);

test(
  'a composed message is read as measured: a blob replaced by a larger one after opening yields no more',
  { timeout: 30_000 },
  async () => {
    const payloads = h.runtime.storage.blobs.getContainerClient(h.config.payloadContainer);
    const blob = payloads.getBlockBlobClient('grows-1.eml');
    await blob.uploadData(Buffer.alloc(100 * 1024, 0x61));
    const stream = await h.runtime.outbox.openMime('grows-1.eml', 1024 * 1024);
    await blob.uploadData(Buffer.alloc(3 * 1024 * 1024, 0x62));
    let read = 0;
    try {
      for await (const chunk of stream) read += (chunk as Buffer).length;
    } catch {
      // Storage refusing the changed blob (its etag no longer matches) is as good: nothing beyond what was measured.
    }
    assert.ok(read <= 100 * 1024, `read ${read} bytes of a blob measured at ${100 * 1024}`);
    await assert.rejects(h.runtime.outbox.openMime('grows-1.eml', 1024 * 1024), /grows-1\.eml is 3145728 bytes; at most 1048576/);
  },
);
