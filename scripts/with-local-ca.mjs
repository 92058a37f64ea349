// Runs node with the local CA trusted. Node reads NODE_EXTRA_CA_CERTS only when it starts, and MSAL insists on an
// https authority, so the local Entra endpoint's certificate must be trusted before the process that uses it starts.
//   node scripts/with-local-ca.mjs <script> [args...]         node --enable-source-maps <script> [args...]
//   node scripts/with-local-ca.mjs --test [node test args...] [files...]
//                                      the given .js test files, or every dist/test/**/*.test.js; one file at a time
// Needs a build first (npm's pre-scripts do it): the certificate code is imported from dist.
//
// A test run is bounded three ways, so that a hang fails with a name instead of running into CI's limit (90 min for
// install, lint, infra checks and tests). The bounds end hangs; they must not time a slow machine. Measured on this
// 2-core machine: alone, the longest wait for a test to start or finish 37 s (a trust-boundary test that waits for
// eight log lines), the slowest file 45 s, the whole run about 3 minutes; shared with other builds and test runs
// (load average about 20, two runs of the suite side by side), the deployment package file over 300 s (it runs
// azd's restore, build and bundle) and the whole run over 15 minutes, which were the earlier bounds and failed both
// runs.
//  - TEST_STALL_MS (default 120 s): no test started or finished for that long in the running file. The stall
//    reporter (test/support/stall-reporter.mts) names the tests still running and ends the file's processes. This
//    also catches a file that does not exit after its last test (a server or child process left running), which is
//    why there is no --test-force-exit: it would hide the leak.
//  - --test-timeout (default 900 s), which Node 22 applies to each file as a whole (later Node: to each test); the
//    tests' own timeouts are shorter.
//  - TEST_RUN_TIMEOUT_MS (default 45 min) for the whole run: then the run's processes are killed and the file that
//    was running is named.
// Processes the tests leave running when the run ends are killed and listed, and fail the run.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const certsModule = join(repo, 'dist/sandbox/certs.js');
if (!existsSync(certsModule)) {
  console.error(`${relative(repo, certsModule)} is missing: run "npm run build" first.`);
  process.exit(1);
}
const { ensureLocalCertificates } = await import(certsModule);
const { watchParent } = await import(pathToFileURL(join(repo, 'dist/sandbox/parent-watch.js')).href);
const { caPath } = await ensureLocalCertificates(join(repo, '.local/certs'));
// A CA the user trusts already (a corporate proxy, a private SMTP relay) stays trusted: node reads one file, so both
// go into a bundle rather than the local CA replacing the user's.
const userCa = process.env.NODE_EXTRA_CA_CERTS;
let trusted = caPath;
if (userCa && resolve(userCa) !== resolve(caPath)) {
  if (!existsSync(userCa)) {
    console.error(`NODE_EXTRA_CA_CERTS names ${userCa}, which does not exist.`);
    process.exit(1);
  }
  const bundle = `${readFileSync(userCa, 'utf8').trim()}\n${readFileSync(caPath, 'utf8').trim()}\n`;
  // Named by its content: a wrapper started with another CA (a test does that) must not rewrite the file that
  // processes already running were told to read.
  trusted = join(repo, '.local/certs', `ca-bundle-${createHash('sha256').update(bundle).digest('hex').slice(0, 16)}.pem`);
  if (!existsSync(trusted)) writeFileSync(trusted, bundle);
}

const [first, ...rest] = process.argv.slice(2);
if (!first) {
  console.error('usage: node scripts/with-local-ca.mjs <script> [args...] | --test [node test args...]');
  process.exit(2);
}
const testing = first === '--test';
const env = { ...process.env, NODE_EXTRA_CA_CERTS: trusted };
let args;
let files = [];
if (testing) {
  const given = rest.filter((arg) => !arg.startsWith('-') && arg.endsWith('.js'));
  const options = rest.filter((arg) => !given.includes(arg));
  files = given.length > 0 ? given : testFiles(join(repo, 'dist/test'));
  if (files.length === 0) {
    console.error('No dist/test/**/*.test.js files: run "npm run build" first.');
    process.exit(1);
  }
  // The usual reporter (spec on a terminal, else TAP) plus the stall reporter, unless the caller chose reporters.
  const reporters = options.some((arg) => arg.startsWith('--test-reporter'))
    ? []
    : [
        `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
        '--test-reporter-destination=stdout',
        `--test-reporter=${pathToFileURL(join(repo, 'dist/test/support/stall-reporter.mjs'))}`,
        '--test-reporter-destination=stderr',
      ];
  env.TEST_STALL_MS ??= '120000';
  // An explicit list rather than --test's glob, so that the watchdog can name the running file. One file at a time: the files share fixed resources
  // such as the certificate directory and the machine's two cores. Options given after --test come later and win.
  args = ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-timeout=900000', ...reporters, ...options, ...files];
} else {
  args = ['--enable-source-maps', first, ...rest];
}

const { descendants, listProcesses } = testing ? await import(pathToFileURL(join(repo, 'dist/test/support/process-tree.js'))) : {};

// On POSIX the child leads a process group of its own, so that the run's whole tree (test files, Azurite, workers)
// can be signalled at once.
const group = process.platform !== 'win32';
const child = spawn(process.execPath, args, { stdio: 'inherit', env, detached: group });
const signalTree = (signal) => {
  try {
    if (group) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
};
/** SIGKILL to the run's process group, then wait (up to 5 s) until none of it runs: nothing outlives `npm test`. */
async function killGroup() {
  signalTree('SIGKILL');
  if (!group || !listProcesses) return;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (!listProcesses().some((p) => p.pgid === child.pid)) return;
  }
}
// SIGHUP too: a closing terminal sends it, and the child, in a group of its own, would not get it from the terminal.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => signalTree(signal));
}
// A parent that went without passing a signal on (npm forwards SIGINT and SIGTERM to its shell, which dies of them
// without passing them on, and forwards no SIGHUP at all; or SIGKILL): the child is told to stop as on SIGTERM, and
// this process exits as the child does.
watchParent(() => signalTree('SIGTERM'));

let watchdog;
let timedOut = false;
if (testing) {
  const limitMs = Number(env.TEST_RUN_TIMEOUT_MS) || 2_700_000;
  watchdog = setTimeout(() => {
    let running = 'unknown';
    try {
      const paths = new Set(files.map((file) => resolve(file)));
      const found = descendants(child.pid).flatMap((p) => p.args.filter((arg) => paths.has(resolve(arg))));
      if (found.length > 0) running = [...new Set(found)].map((file) => relative(repo, file)).join(', ');
    } catch {
      // no process list here: the file stays unnamed
    }
    console.error(
      `\n# TIMEOUT: the test run took longer than ${limitMs / 1000} s (TEST_RUN_TIMEOUT_MS); running: ${running}. Killing the run's processes.`,
    );
    timedOut = true;
    killGroup().then(() => process.exit(1));
  }, limitMs);
}

child.on('exit', async (code, signal) => {
  clearTimeout(watchdog);
  if (timedOut) return; // the watchdog kills the rest and exits 1
  if (testing && group) {
    // Whatever the tests started and is still running now was left behind (a leak, or the children of a file killed
    // on its timeout): it is killed, listed, and fails the run.
    const left = listProcesses().filter((p) => p.pgid === child.pid);
    if (left.length > 0) {
      console.error(
        `# ${left.length} process(es) left running by the tests, now killed:\n${left.map((p) => `#   ${p.pid} ${p.args.join(' ').slice(0, 200)}`).join('\n')}`,
      );
      await killGroup();
      if (code === 0) code = 1;
    }
  }
  // Die of the same signal as the child, so callers see what happened.
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.js'))
    .map((entry) => relative(process.cwd(), join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}
