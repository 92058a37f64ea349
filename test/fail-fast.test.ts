// A setup that cannot work fails at once and leaves nothing running: no Azurite or worker process, no listening
// server. Anything left would keep this file's process alive after its tests, and a broken setting would then hang
// the whole run instead of failing it.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { AZURITE_ACCOUNT_NAME, startAzurite } from '../sandbox/azurite';
import { startLocalStack } from '../sandbox/stack';
import { freePort, startHarness } from './support/harness';
import { descendants, isRunning } from './support/process-tree';
import { startWorker } from './support/worker';

/** Starting the stack takes about 2 s, and up to 9 s was seen with other test runs on the same two cores. */
const FAILS_WITHIN_MS = 20_000;

// What a failing check found is killed after each test, so that the next one starts clean and this file ends.
afterEach(() => {
  for (const p of descendants(process.pid)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

test('an invalid setting makes startHarness reject within seconds, naming it; Azurite and the servers are stopped', async () => {
  const run = await attempt(() => startHarness({ settings: { MAIL_AUTH_MODE: 'bogus' } }));
  assert.match(String(run.error), /MAIL_AUTH_MODE: must be one of/);
  assert.ok(run.elapsedMs < FAILS_WITHIN_MS, `rejected after ${run.elapsedMs} ms`);
  await assertNothingLeft(run);
});

test('a storage failure after the runtime exists (wrong account key) also stops everything started', async () => {
  const ports = { blob: await freePort(), queue: await freePort(), table: await freePort() };
  const wrongKey = Buffer.from('not the Azurite account key').toString('base64');
  const endpoint = (service: keyof typeof ports) => `http://127.0.0.1:${ports[service]}/${AZURITE_ACCOUNT_NAME}`;
  const MailStorage =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${wrongKey};` +
    `BlobEndpoint=${endpoint('blob')};QueueEndpoint=${endpoint('queue')};TableEndpoint=${endpoint('table')};`;
  const run = await attempt(() => startHarness({ stack: { azuritePorts: ports }, settings: { MailStorage } }));
  assert.equal((run.error as { statusCode?: number }).statusCode, 403, String(run.error));
  assert.ok(run.elapsedMs < FAILS_WITHIN_MS, `rejected after ${run.elapsedMs} ms`);
  await assertNothingLeft(run);
});

test('a local stack whose SMTP port is taken rejects, naming the port, and stops the parts already started', async () => {
  const squatter = await listen();
  const port = (squatter.address() as AddressInfo).port;
  try {
    const run = await attempt(() => startLocalStack({ smtpPort: port }));
    assert.match(String(run.error), new RegExp(`EADDRINUSE.*${port}`));
    await assertNothingLeft(run);
  } finally {
    squatter.close();
  }
});

test('Azurite that does not come up in time is killed before startAzurite rejects', async () => {
  const run = await attempt(() => startAzurite({ startTimeoutMs: 1 }));
  assert.match(String(run.error), /did not accept connections/);
  await assertNothingLeft(run);
});

test('a worker process with an invalid setting exits within seconds and startWorker rejects with its message', async () => {
  const run = await attempt(() => startWorker({ MAIL_AUTH_MODE: 'bogus' }, { name: 'bogus' }));
  assert.match(String(run.error), /exited \(code 1\) before it was ready[\s\S]*MAIL_AUTH_MODE: must be one of/);
  assert.ok(run.elapsedMs < FAILS_WITHIN_MS, `rejected after ${run.elapsedMs} ms`);
  await assertNothingLeft(run);
});

interface FailedStart {
  error: unknown;
  elapsedMs: number;
  /** Child processes seen while the start ran. */
  seen: Set<number>;
  /** What kept this process alive before the start (process.getActiveResourcesInfo()). */
  before: string[];
}

/**
 * Runs a start that should fail, noting the child processes it has meanwhile (Azurite lives for a second or more
 * before it listens), so that the test can check those very processes are gone.
 */
async function attempt(start: () => Promise<unknown>): Promise<FailedStart> {
  const before = process.getActiveResourcesInfo();
  const seen = new Set<number>();
  const watcher = setInterval(() => descendants(process.pid).forEach((p) => seen.add(p.pid)), 20);
  const started = Date.now();
  try {
    await start();
  } catch (error) {
    return { error, elapsedMs: Date.now() - started, seen, before };
  } finally {
    clearInterval(watcher);
  }
  assert.fail('expected the start to fail');
}

/**
 * No process seen during the start still runs, nor any other child process, and nothing new keeps this process
 * alive: no server, socket or timer (storage calls still retrying, say) beyond those it had before. Handles being
 * closed get a moment to go.
 */
async function assertNothingLeft(run: FailedStart): Promise<void> {
  assert.ok(run.seen.size > 0, 'saw no child process during the start: the check below would prove nothing');
  assert.deepEqual([...run.seen].filter(isRunning), [], 'child processes of the failed start still running');
  assert.deepEqual(
    descendants(process.pid).map((p) => `${p.pid} ${p.args.join(' ')}`),
    [],
    'child processes left',
  );
  const added = () => {
    const remaining = [...run.before];
    return process.getActiveResourcesInfo().filter((r) => {
      const index = remaining.indexOf(r);
      if (index < 0) return true;
      remaining.splice(index, 1);
      return false;
    });
  };
  for (const deadline = Date.now() + 2000; added().length > 0 && Date.now() < deadline;)
    await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(added(), [], 'handles left that keep the process alive');
}

function listen(): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
