// The local process as a user runs it: npm start leaves nothing running however it is stopped (a signal to npm, or a
// process of its tree killed outright), the wrapper keeps a CA the user already trusts, and the SMTP certificate can
// be checked against a name other than the host.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { ensureLocalCertificates } from '../sandbox/certs';
import { freePortRun, startHarness, type Harness } from './support/harness';
import { descendants, isRunning, listProcesses } from './support/process-tree';

const ROOT = join(__dirname, '..', '..');
const WRAPPER = join(ROOT, 'scripts', 'with-local-ca.mjs');
const temp = mkdtempSync(join(tmpdir(), 'local-process-'));
const children: ChildProcess[] = [];
/** Every process of the npm start trees (pid → command line), whatever group it moved to: the cleanup ends what a failed test left. */
const started = new Map<number, string>();
const harnesses: Harness[] = [];
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  // Only a process still running the same command: a pid can be reused by another's process.
  for (const p of listProcesses()) if (started.get(p.pid) === p.args.join(' ')) process.kill(p.pid, 'SIGKILL');
  await Promise.all(harnesses.map((h) => h.close()));
  rmSync(temp, { recursive: true, force: true });
});

/** Whether a loopback port can be bound now: nothing holds it. */
const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createNetServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

// npm as a user runs it. Under `npm test` npm names itself (npm_execpath); else the npm on PATH. `--ignore-scripts`
// skips only prestart's build, which would delete dist/ under the running suite; the start script itself runs.
const npm = process.env.npm_execpath
  ? { file: process.execPath, args: [process.env.npm_execpath] }
  : { file: process.platform === 'win32' ? 'npm.cmd' : 'npm', args: [] };

// How `npm start` gets stopped: a process manager or an IDE signals npm (npm passes SIGINT and SIGTERM on to its child
// and not SIGHUP, which a closing terminal sends), or a process of the tree is killed outright and cannot stop its children.
const stops = [
  { signal: 'SIGTERM', target: 'npm' },
  { signal: 'SIGINT', target: 'npm' },
  { signal: 'SIGHUP', target: 'npm' },
  { signal: 'SIGKILL', target: 'wrapper' },
  { signal: 'SIGKILL', target: 'sandbox' },
] as const;

for (const { signal, target } of stops) {
  test(
    `${signal} to ${target === 'npm' ? "npm's process" : `the ${target}`} of npm start: nothing of its tree runs and its ports are free`,
    { timeout: 120_000, skip: process.platform === 'win32' && 'POSIX signals' },
    async (t) => {
      // The sandbox's port and Azurite's three, in one run below the ephemeral range (see freePortRun).
      const port = await freePortRun(4);
      const ports = [port, port + 1, port + 2, port + 3];
      // A process group of its own, which this test owns: nothing else is signalled, and the cleanup can end it all.
      const child = spawn(npm.file, [...npm.args, 'start', '--ignore-scripts'], {
        cwd: ROOT,
        detached: true,
        env: {
          ...process.env,
          SANDBOX_PORT: String(port),
          SANDBOX_AZURITE_PORT: String(port + 1),
          SANDBOX_DATA_DIR: join(temp, `${signal}-${target}`),
        },
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
      const all = listProcesses();
      const tree = [...all.filter((p) => p.pid === child.pid), ...descendants(child.pid!, all)];
      for (const p of tree) started.set(p.pid, p.args.join(' '));
      const find = (text: string) => tree.find((p) => p.args.some((arg) => arg.endsWith(text)));
      const parts = { wrapper: find('with-local-ca.mjs'), sandbox: find('sandbox/main.js'), azurite: find('azurite.js') };
      assert.ok(
        parts.wrapper && parts.sandbox && parts.azurite,
        `npm start runs the wrapper, the sandbox and Azurite:\n${JSON.stringify(tree)}`,
      );
      // A mail first, so the sandbox holds connection leases it gives back on the way out.
      const sent = await fetch(`http://localhost:${port}/api/mail`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: 'stop@example.com', subject: 'before stopping', text: 'x' }),
      });
      assert.equal(sent.status, 202);
      for (const deadline = Date.now() + 15_000; !output.includes('Sent message') && Date.now() < deadline;)
        await new Promise((r) => setTimeout(r, 100));

      process.kill(target === 'npm' ? child.pid! : parts[target]!.pid, signal);
      const signalled = Date.now();
      const left = async () => {
        const running = tree.filter((p) => isRunning(p.pid)).map((p) => `${p.pid} ${p.args.join(' ').slice(0, 120)}`);
        const held = [];
        for (const p of ports) if (!(await bindable(p))) held.push(p);
        return { running, held };
      };
      // Bounded, not a speed check: each process notices its parent gone within half a second, and Azurite is stopped last.
      let now = await left();
      for (const deadline = signalled + 20_000; (now.running.length > 0 || now.held.length > 0) && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 100));
        now = await left();
      }
      assert.deepEqual(now, { running: [], held: [] }, output);
      t.diagnostic(
        `${signal} to ${target}: the ${tree.length} processes gone and ports ${ports.join(', ')} free after ${Date.now() - signalled} ms`,
      );
    },
  );
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
