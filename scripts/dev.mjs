// `npm run dev`: the sandbox, rebuilt and restarted on every change. Checks the sandbox's ports first (as npm start
// does), then runs the compiler in watch mode (`tsc -b --watch`, the same incremental build as npm run build) and,
// after each compile without errors that changed the app's or the sandbox's code (dist/src, dist/sandbox), removes
// stale output (prune-dist.mjs: tsc --watch keeps the output of a deleted source) and starts the sandbox again. A
// compile with errors leaves the running sandbox as it is. Ctrl+C stops both. Changes to tests or benchmarks only are
// compiled, without a restart.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortSettingError, refusal, takenPorts } from './check-sandbox-ports.mjs';
import { pruneDist } from './prune-dist.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** What the running sandbox executes: the app and the sandbox itself. */
const RUN_OUTPUT = [join(ROOT, 'dist', 'src'), join(ROOT, 'dist', 'sandbox')];
const COMPILED = /Found (\d+) errors?\. Watching for file changes\./;

const taken = await takenPorts().catch((error) => {
  if (!(error instanceof PortSettingError)) throw error;
  console.error(`npm run dev: ${error.message}`);
  process.exit(2);
});
if (taken.length > 0) {
  console.error(refusal(taken, 'npm run dev'));
  process.exit(1);
}

/** The compiled files the sandbox runs, with their modification times, to tell such a change from one of the tests. */
function appOutput() {
  return RUN_OUTPUT.filter((dir) => existsSync(dir))
    .flatMap((dir) => readdirSync(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => `${join(entry.parentPath, entry.name)} ${statSync(join(entry.parentPath, entry.name)).mtimeMs}`)
    .sort()
    .join('\n');
}

let sandbox;
let sandboxExited = Promise.resolve();
let stopping = false;

/** Stops the running sandbox (SIGTERM to the wrapper, which passes it on; SIGKILL after 10 s) and waits until it is gone. */
async function stopSandbox() {
  const running = sandbox;
  sandbox = undefined;
  if (!running || running.exitCode !== null || running.signalCode !== null) return;
  running.kill('SIGTERM');
  const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
  await sandboxExited;
  clearTimeout(timer);
}

function startSandbox() {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'with-local-ca.mjs'), 'dist/sandbox/main.js'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  sandboxExited = new Promise((resolve) => child.once('exit', resolve));
  sandbox = child;
}

let lastOutput;
let restarting = Promise.resolve();
function compiled(errors) {
  if (errors > 0) {
    console.log(
      sandbox ? 'npm run dev: the sandbox keeps running the last code that compiled.' : 'npm run dev: fix the errors to start the sandbox.',
    );
    return;
  }
  const output = appOutput();
  if (output === lastOutput) return;
  lastOutput = output;
  restarting = restarting.then(async () => {
    if (stopping) return;
    const restart = Boolean(sandbox);
    await stopSandbox();
    for (const file of pruneDist().removed) console.log(`npm run dev: removed ${file} (its source is gone)`);
    if (stopping) return;
    console.log(restart ? 'npm run dev: the app changed, restarting the sandbox.' : 'npm run dev: starting the sandbox.');
    startSandbox();
  });
}

const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
pruneDist();
const watcher = spawn(process.execPath, [tsc, '-b', '--watch', '--preserveWatchOutput', 'tsconfig.json'], {
  cwd: ROOT,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let pending = '';
watcher.stdout.setEncoding('utf8').on('data', (text) => {
  process.stdout.write(text);
  pending += text;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    const match = COMPILED.exec(line);
    if (match) compiled(Number(match[1]));
  }
});
watcher.once('exit', (code) => {
  if (stopping) return;
  console.error(`npm run dev: the compiler stopped (exit ${code}).`);
  void stop(1);
});

async function stop(code) {
  if (stopping) return;
  stopping = true;
  watcher.kill('SIGTERM');
  await restarting;
  await stopSandbox();
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(signal, () => void stop(0));
