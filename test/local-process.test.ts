// The local process as a user runs it: npm start's wrapper stops everything it started on SIGTERM or SIGINT, keeps a
// CA the user already trusts, and the SMTP certificate can be checked against a name other than the host.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ensureLocalCertificates } from '../src/local/certs';
import { freePort, freePortRun, startHarness, type Harness } from './support/harness';
import { descendants } from './support/process-tree';

const ROOT = join(__dirname, '..', '..');
const WRAPPER = join(ROOT, 'scripts', 'with-local-ca.mjs');
const temp = mkdtempSync(join(tmpdir(), 'local-process-'));
const children: ChildProcess[] = [];
const harnesses: Harness[] = [];
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(harnesses.map((h) => h.close()));
  rmSync(temp, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to npm start's process stops the sandbox and Azurite, leaving nothing running`, { timeout: 90_000 }, async () => {
    const [port, azurite] = [await freePort(), await freePortRun(3)];
    const child = spawn(process.execPath, [WRAPPER, join(ROOT, 'dist', 'src', 'local', 'sandbox.js')], {
      cwd: ROOT,
      env: { ...process.env, SANDBOX_PORT: String(port), SANDBOX_AZURITE_PORT: String(azurite), SANDBOX_DATA_DIR: join(temp, signal) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    for (const deadline = Date.now() + 60_000; !output.includes('Press Ctrl+C') && Date.now() < deadline;) {
      assert.equal(child.exitCode, null, output);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(output.includes('Press Ctrl+C'), output);
    // A mail first, so the sandbox holds connection leases it gives back on the way out.
    const sent = await fetch(`http://localhost:${port}/api/mail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'stop@example.com', subject: 'before stopping', text: 'x' }),
    });
    assert.equal(sent.status, 202);
    for (const deadline = Date.now() + 15_000; !output.includes('Sent message') && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 100));
    const started = descendants(child.pid!).map((p) => p.pid);
    assert.ok(started.length >= 2, 'the sandbox and Azurite run under the wrapper');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
    const signalled = Date.now();
    for (const deadline = Date.now() + 15_000; started.some(alive) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(started.filter(alive), [], 'every process the wrapper started is gone');
    // Not a speed check: a stop that waits out storage retries (Azurite stopped first) took 14 s and more.
    assert.ok(Date.now() - signalled < 8_000, `stopped after ${Date.now() - signalled} ms`);
  });
}

test('a CA the user already trusts (NODE_EXTRA_CA_CERTS) stays trusted beside the local one', { timeout: 60_000 }, async () => {
  // A private CA of the user's, and an https server whose certificate it signed.
  const userCa = await ensureLocalCertificates(join(temp, 'user-ca'));
  const server = createServer({ cert: userCa.certPem, key: userCa.keyPem }, (_req, res) => res.end('trusted'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const script = join(temp, 'fetch.mjs');
  writeFileSync(script, `const r = await fetch('https://localhost:${port}/'); console.log(await r.text());`);
  try {
    const child = spawn(process.execPath, [WRAPPER, script], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: userCa.caPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, output);
    assert.match(output, /trusted/);
  } finally {
    server.close();
  }
});

test('MAIL_SMTP_TLS_SERVERNAME: the certificate is checked against that name, not the address dialled', { timeout: 60_000 }, async () => {
  const right = await startHarness({
    mode: 'clientSecret',
    settings: { MAIL_SMTP_HOST: '127.0.0.1', MAIL_SMTP_TLS_SERVERNAME: 'localhost' },
  });
  harnesses.push(right);
  const sent = await right.post({ to: 'sni@example.com', subject: 'servername', text: 'x' });
  assert.equal((await right.waitForFinal(sent.json.id)).status, 'sent');

  const wrong = await startHarness({
    mode: 'clientSecret',
    settings: { MAIL_SMTP_HOST: '127.0.0.1', MAIL_SMTP_TLS_SERVERNAME: 'smtp.wrong.example' },
  });
  harnesses.push(wrong);
  const refused = await wrong.post({ to: 'sni@example.com', subject: 'servername', text: 'x' });
  const record = await wrong
    .waitForFinal(refused.json.id, 30_000)
    .catch(async () => (await wrong.runtime.status.get(refused.json.id))!.record);
  assert.notEqual(record.status, 'sent', 'a certificate for another name is not accepted');
  assert.equal(wrong.stack.smtp.messages.length, 0);
});
