// `npm start` checks the sandbox's ports before it builds or changes anything: a second `npm start` while a sandbox
// runs is refused, naming each taken port, its setting and the process holding it, and the running sandbox and its
// dist/ are left as they were. Real processes: a sandbox started by npm on ports this test chose, then npm start again.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePortRun } from './support/harness';
import { descendants, listProcesses } from './support/process-tree';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const CHECK = join(ROOT, 'scripts', 'check-sandbox-ports.mjs');
const temp = mkdtempSync(join(tmpdir(), 'sandbox-start-'));
const children: ChildProcess[] = [];
const servers: Server[] = [];
/** Every process the started trees ran (pid → command line): the cleanup ends what a failed test left. */
const started = new Map<number, string>();
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) kill(child, 'SIGKILL');
  for (const p of listProcesses()) if (started.get(p.pid) === p.args.join(' ')) process.kill(p.pid, 'SIGKILL');
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(temp, { recursive: true, force: true });
});

// npm as a user runs it: under `npm test` the npm that runs the suite (npm_execpath), else the npm on PATH.
const npm = process.env.npm_execpath
  ? { file: process.execPath, args: [process.env.npm_execpath] }
  : { file: process.platform === 'win32' ? 'npm.cmd' : 'npm', args: [] };

/** Runs npm in a process group of its own, which this test owns; collects what it prints. */
function runNpm(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(npm.file, [...npm.args, ...args], {
    cwd: ROOT,
    detached: process.platform !== 'win32',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Each compiled file under dist/ with its size and modification time: a build, a clean or a prune changes it. */
function distSnapshot(): Map<string, string> {
  const dist = join(ROOT, 'dist');
  const files = readdirSync(dist, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  return new Map(
    files.map((entry) => {
      const path = join(entry.parentPath, entry.name);
      const stat = statSync(path);
      return [relative(dist, path), `${stat.size} ${stat.mtimeMs}`];
    }),
  );
}

async function within<T>(ms: number, what: string, done: () => T | undefined): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const value = done();
    if (value !== undefined) return value;
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

test(
  'a second npm start while a sandbox runs is refused before anything is built or deleted, and the sandbox keeps answering',
  { timeout: 180_000, skip: process.platform === 'win32' && 'POSIX process groups' },
  async () => {
    // The sandbox's port and Azurite's three, in one run below the ephemeral range (see freePortRun).
    const port = await freePortRun(4);
    const env = { SANDBOX_PORT: String(port), SANDBOX_AZURITE_PORT: String(port + 1), SANDBOX_DATA_DIR: join(temp, 'data') };
    // The first sandbox from the suite's build: --ignore-scripts skips prestart (the check and the build).
    const first = runNpm(['start', '--ignore-scripts'], env);
    await within(90_000, `the first sandbox to start:\n${first.output()}`, () => {
      assert.equal(first.child.exitCode, null, first.output());
      return first.output().includes('Press Ctrl+C') || undefined;
    });
    const tree = descendants(first.child.pid!);
    for (const p of tree) started.set(p.pid, p.args.join(' '));
    // The sandbox itself, not the wrapper that started it (whose command line names it too).
    const sandboxPid = tree.find(
      (p) => p.args.some((arg) => arg.endsWith('sandbox/main.js')) && !p.args.some((arg) => arg.endsWith('with-local-ca.mjs')),
    )?.pid;
    assert.ok(sandboxPid, `the sandbox process runs under npm: ${tree.map((p) => p.args.join(' ')).join('\n')}`);

    const before = distSnapshot();
    // The second, as a user types it: prestart runs.
    const second = runNpm(['start'], env);
    const code = await Promise.race([second.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000))]);
    if (code === 'hung') kill(second.child, 'SIGKILL');
    const said = second.output();
    assert.notEqual(code, 'hung', `the second npm start did not end:\n${said}`);
    assert.notEqual(code, 0, `the second npm start succeeded:\n${said}`);
    assert.match(
      said,
      new RegExp(
        `port ${port} \\(the sandbox's address, SANDBOX_PORT\\) is in use by process ${sandboxPid} \\(node [^)]*sandbox/main\\.js\\)`,
      ),
    );
    for (const p of [port + 1, port + 2, port + 3])
      assert.match(said, new RegExp(`port ${p} \\(Azurite's \\w+ service, SANDBOX_AZURITE_PORT\\) is in use by process \\d+`));
    assert.match(said, /A sandbox is already running/);
    assert.doesNotMatch(said, /prune-dist|tsc -b|^> \S+ build$/m, 'the second start built');
    assert.deepEqual(distSnapshot(), before, "the running sandbox's dist/ changed");

    // The first sandbox still serves: the API description, and a mail through to its SMTP server.
    const api = await fetch(`http://localhost:${port}/api/openapi.json`);
    assert.equal(api.status, 200);
    const sent = await fetch(`http://localhost:${port}/api/mail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'second-start@example.com', subject: 'after a refused start', text: 'x' }),
    });
    assert.equal(sent.status, 202, await sent.text());
    await within(30_000, `the mail to be sent:\n${first.output()}`, () =>
      first.output().includes('second-start@example.com') ? true : undefined,
    );

    kill(first.child, 'SIGTERM');
    await first.exited;
  },
);

interface CheckModule {
  sandboxPorts: (env: NodeJS.ProcessEnv) => { port: number; setting: string }[];
  takenPorts: (env: NodeJS.ProcessEnv) => Promise<{ port: number; setting: string; holder?: { pid: number } }[]>;
  refusal: (taken: unknown[]) => string;
}
const check = (): Promise<CheckModule> => import(pathToFileURL(CHECK).href);

test('the port check names a taken Azurite port and what holds it; free ports pass; a bad port setting is refused by name', async () => {
  const { sandboxPorts, takenPorts, refusal } = await check();
  const port = await freePortRun(4);
  const env = { SANDBOX_PORT: String(port), SANDBOX_AZURITE_PORT: String(port + 1), MAIL_SMTP_HOST: '' };
  assert.deepEqual(
    sandboxPorts(env).map((p) => `${p.port} ${p.setting}`),
    [`${port} SANDBOX_PORT`, `${port + 1} SANDBOX_AZURITE_PORT`, `${port + 2} SANDBOX_AZURITE_PORT`, `${port + 3} SANDBOX_AZURITE_PORT`],
  );
  assert.deepEqual(await takenPorts(env), [], 'free ports pass');

  const holder = createServer();
  servers.push(holder);
  await new Promise<void>((resolve) => holder.listen(port + 2, '127.0.0.1', resolve));
  const taken = await takenPorts(env);
  assert.deepEqual(
    taken.map((t) => [t.port, t.setting]),
    [[port + 2, 'SANDBOX_AZURITE_PORT']],
  );
  if (process.platform === 'linux') assert.equal(taken[0].holder?.pid, process.pid, 'the holder is this process');
  assert.match(refusal(taken), new RegExp(`port ${port + 2} \\(Azurite's queue service, SANDBOX_AZURITE_PORT\\) is in use by process`));
  assert.match(refusal(taken), /nothing was built or changed/);

  // Real SMTP settings with their own storage account: no Azurite, so only the sandbox's own port counts.
  assert.deepEqual(
    sandboxPorts({ ...env, MAIL_SMTP_HOST: 'smtp.office365.com', MailStorage: 'DefaultEndpointsProtocol=https;AccountName=x' }).map(
      (p) => p.port,
    ),
    [port],
  );
  for (const bad of ['70000', 'abc', '-1', ''])
    assert.throws(() => sandboxPorts({ ...env, SANDBOX_PORT: bad }), new RegExp(`SANDBOX_PORT is "${bad}"`));
});
