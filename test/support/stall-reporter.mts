// A test reporter that turns a hang into a failure naming the test. Node 22 applies --test-timeout to a whole
// file and then names only the file; this follows the running file's test:dequeue / test:complete events, and when
// none has come for TEST_STALL_MS it prints what is still running (the innermost unfinished tests, or, once every
// test is done, the file's after hooks or handles left open) and ends that file's process and everything it
// started. The runner then reports the file as failed and goes on with the next one. Assumes one file at a time
// (--test-concurrency=1, as scripts/with-local-ca.mjs runs them).
// Runs in the runner's process beside the usual reporter (scripts/with-local-ca.mjs --test adds it); prints nothing
// unless something stalls.
import { descendants, listProcesses } from './process-tree.js';

interface Event {
  type: string;
  data?: { name?: string; nesting?: number; file?: string };
}

interface Running {
  file: string;
  /** Unfinished tests and suites of the file, each as its path of names from the top. */
  open: Array<{ nesting: number; path: string[] }>;
  lastProgress: number;
  stalled?: boolean;
}

// It yields nothing: what it has to say comes from a timer, between events, and goes straight to stderr.
// eslint-disable-next-line require-yield
export default async function* stallReporter(source: AsyncIterable<Event>): AsyncGenerator<string> {
  const limitMs = Number(process.env.TEST_STALL_MS) || 120_000;
  let running: Running | undefined;
  const check = setInterval(() => {
    if (!running || running.stalled || Date.now() - running.lastProgress < limitMs) return;
    running.stalled = true;
    const open = running.open;
    const innermost = open.filter(
      (o) => !open.some((other) => other.path.length > o.path.length && o.path.every((name, i) => other.path[i] === name)),
    );
    const what =
      innermost.length > 0
        ? innermost.map((o) => `"${o.path.join(' > ')}"`).join(', ') + ' (or a hook around it)'
        : "the file's hooks, or handles it left open after its last test";
    process.stderr.write(
      `\n# STALLED ${running.file}: no test started or finished for ${limitMs / 1000} s. Still running: ${what}.\n` +
        `# ${endFileProcess(running.file)}\n`,
    );
  }, 250);
  check.unref();
  try {
    for await (const event of source) {
      const { name, nesting = 0, file } = event.data ?? {};
      if (!file || name === undefined) continue;
      // The runner's own entry for a file is named by its path. The file's tests come between its dequeue and its
      // completion (one file at a time), and name their source file, which with source maps is the .ts one.
      const isFile = nesting === 0 && name === file;
      if (event.type === 'test:dequeue') {
        if (isFile) {
          running = { file, open: [], lastProgress: Date.now() };
        } else if (running) {
          const parent = running.open.filter((o) => o.nesting === nesting - 1).pop();
          running.open.push({ nesting, path: [...(parent?.path ?? []), name] });
          running.lastProgress = Date.now();
        }
      } else if (event.type === 'test:complete') {
        if (isFile) {
          if (running?.file === file) running = undefined;
        } else if (running) {
          const index = running.open.map((o) => o.nesting === nesting && o.path.at(-1) === name).lastIndexOf(true);
          if (index >= 0) running.open.splice(index, 1);
          running.lastProgress = Date.now();
        }
      }
    }
  } finally {
    clearInterval(check);
  }
}

/** Ends the runner's child process for `file` and everything under it (Azurite, workers: nothing may outlive it). */
function endFileProcess(file: string): string {
  let all;
  try {
    all = listProcesses();
  } catch (error) {
    return `Cannot list processes (${(error as Error).message}); the runner's --test-timeout will end the file.`;
  }
  const fileProcess = all.find((p) => p.ppid === process.pid && p.args.join(' ').endsWith(file));
  if (!fileProcess) return "Its process was not found; the runner's --test-timeout will end the file.";
  const tree = [fileProcess, ...descendants(fileProcess.pid, all)];
  for (const p of tree) kill(p.pid, 'SIGTERM');
  // Whatever ignores SIGTERM gets SIGKILL (if its pid still runs the same command); unref'd so that it holds up
  // no run that is over.
  setTimeout(() => {
    const still = listProcesses();
    for (const p of tree) if (still.some((s) => s.pid === p.pid && s.args.join(' ') === p.args.join(' '))) kill(p.pid, 'SIGKILL');
  }, 3000).unref();
  return `Ended its process ${fileProcess.pid}` + (tree.length > 1 ? ` and ${tree.length - 1} process(es) it started.` : '.');
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
