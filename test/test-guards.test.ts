// The guards of `npm test` (scripts/with-local-ca.mjs --test and its stall reporter), run on fixture test files with
// limits of seconds: a hanging test fails naming itself and the run goes on with the next file; a file that does not
// exit after its tests is ended; the whole run is bounded; and no process the tests started outlives the run.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descendants, isRunning } from './support/process-tree';

const REPO = join(__dirname, '..', '..');
const FIXTURES = join(__dirname, 'support', 'fixtures');
const scratch = mkdtempSync(join(tmpdir(), 'test-guards-'));

after(() => {
  // Should a guard fail, whatever it left is killed here, so that this file still ends.
  for (const p of descendants(process.pid)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(scratch, { recursive: true, force: true });
});

test('a hanging test fails within the stall limit, named; its child process is ended and the next file runs', async () => {
  const run = await guardedRun(['hangs.js', 'passes.js'], { TEST_STALL_MS: '1500' });
  assert.equal(run.code, 1, run.output);
  assert.match(run.output, /STALLED \S*hangs\.js: no test started or finished for 1\.5 s\. Still running: "hangs forever"/);
  assert.match(run.output, /^ok \d+ - passes first$/m);
  assert.match(run.output, /^ok \d+ - the next file still runs$/m);
  assert.ok(run.elapsedMs < 20_000, `took ${run.elapsedMs} ms`);
  assertGone(run);
});

test('a file that keeps a server open after its tests is ended and fails', async () => {
  const run = await guardedRun(['leaves-server.js'], { TEST_STALL_MS: '1500' });
  assert.equal(run.code, 1, run.output);
  assert.match(run.output, /^ok \d+ - leaves a server listening$/m);
  assert.match(run.output, /STALLED \S*leaves-server\.js: .* Still running: the file's hooks, or handles it left open after its last test/);
  assert.ok(run.elapsedMs < 20_000, `took ${run.elapsedMs} ms`);
  assertGone(run);
});

test('the whole run is bounded: past TEST_RUN_TIMEOUT_MS every process of it is killed and the running file named', async () => {
  const run = await guardedRun(['hangs.js', 'passes.js'], { TEST_STALL_MS: '60000', TEST_RUN_TIMEOUT_MS: '3000' });
  assert.equal(run.code, 1, run.output);
  assert.match(run.output, /TIMEOUT: the test run took longer than 3 s \(TEST_RUN_TIMEOUT_MS\); running: \S*hangs\.js\./);
  assert.doesNotMatch(run.output, /the next file still runs/);
  assert.ok(run.elapsedMs < 20_000, `took ${run.elapsedMs} ms`);
  assertGone(run);
});

test('a process the tests leave running is killed when the run ends, listed, and fails the run', async () => {
  const run = await guardedRun(['leaves-process.js'], {});
  assert.match(run.output, /^ok \d+ - starts a process and forgets it$/m);
  assert.match(run.output, new RegExp(`1 process\\(es\\) left running by the tests, now killed:\\n#   ${run.fixturePid} `));
  assert.equal(run.code, 1, run.output);
  assertGone(run);
});

interface GuardedRun {
  code: number | null;
  output: string;
  elapsedMs: number;
  /** The child process a fixture started, if it started one. */
  fixturePid?: number;
}

/** `node scripts/with-local-ca.mjs --test` over fixture files, as `npm test` runs the suite. */
async function guardedRun(fixtures: string[], env: Record<string, string>): Promise<GuardedRun> {
  const pidFile = join(scratch, `pid-${Date.now()}`);
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, FIXTURE_PID_FILE: pidFile };
  delete childEnv.NODE_TEST_CONTEXT; // set for this file by the runner; the inner runner must not see it
  const started = Date.now();
  const child = spawn(process.execPath, [join(REPO, 'scripts', 'with-local-ca.mjs'), '--test', ...fixtures.map((f) => join(FIXTURES, f))], {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (text: string) => (output += text));
  // A guard that does not work must not hang this test in turn.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  const fixturePid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined;
  return { code, output, elapsedMs: Date.now() - started, fixturePid };
}

function assertGone(run: GuardedRun): void {
  if (run.fixturePid !== undefined)
    assert.equal(isRunning(run.fixturePid), false, `the fixture's child process ${run.fixturePid} still runs`);
  assert.deepEqual(
    descendants(process.pid).map((p) => `${p.pid} ${p.args.join(' ')}`),
    [],
    'processes left',
  );
}
