// Queue workers in processes of their own (sandbox/worker-process.ts), for tests. startWorker resolves once the
// worker polls. A worker that exits first, or is not ready in time, makes it reject with what the worker printed,
// and is gone by then; stopWorkers() ends the rest (call it from an after hook).
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { WorkerOptions } from '../../sandbox/worker-process';

const running = new Set<ChildProcess>();

export async function startWorker(
  settings: Record<string, string>,
  options: WorkerOptions,
  readyTimeoutMs = 20_000,
): Promise<ChildProcess> {
  const worker = fork(join(__dirname, '..', '..', 'sandbox', 'worker-process.js'), [], {
    env: { ...process.env, WORKER_SETTINGS: JSON.stringify(settings), WORKER_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  running.add(worker);
  worker.once('exit', () => running.delete(worker));
  // Read both pipes to the end, so that a chatty worker never blocks on a full pipe, and keep the tail for errors.
  let output = '';
  for (const stream of [worker.stdout!, worker.stderr!])
    stream.setEncoding('utf8').on('data', (text: string) => (output = (output + text).slice(-8000)));

  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (message: { type?: string }) => message.type === 'ready' && resolve());
      worker.once('exit', (code, signal) =>
        reject(new Error(`worker ${options.name ?? ''} exited (${signal ?? `code ${code}`}) before it was ready:\n${output}`)),
      );
      worker.once('error', reject);
      timer = setTimeout(
        () => reject(new Error(`worker ${options.name ?? ''} not ready within ${readyTimeoutMs} ms:\n${output}`)),
        readyTimeoutMs,
      );
    });
  } catch (error) {
    await kill(worker);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return worker;
}

/** Kills every worker still running and waits until each has exited. */
export async function stopWorkers(): Promise<void> {
  await Promise.all([...running].map(kill));
}

async function kill(worker: ChildProcess): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return;
  const exited = once(worker, 'exit');
  worker.kill('SIGKILL');
  await exited;
}
