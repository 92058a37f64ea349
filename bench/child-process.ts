// Memory is measured in a fresh process per side, so one side's garbage and caches never count for another: the
// parent forks the benchmark's own file with a task, the child runs it and sends back one result (or its error).
import { fork } from 'node:child_process';

export async function runInChild<Result>(file: string, task: { kind: string }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = fork(file, ['--child'], {
      env: { ...process.env, BENCH_CHILD: JSON.stringify(task) },
      execArgv: ['--expose-gc', '--enable-source-maps'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: (Result & { error?: string }) | undefined;
    proc.on('message', (m: Result & { error?: string }) => (result = m));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (result?.error) reject(new Error(`${task.kind} process: ${result.error}`));
      else if (result && code === 0) resolve(result);
      else reject(new Error(`${task.kind} process exited with ${code} and no result`));
    });
  });
}

/** In the forked child (`--child`): runs the task it was given and sends the result back before exiting. */
export function serveChild<Task>(module: NodeJS.Module, run: (task: Task) => Promise<object>): void {
  if (require.main !== module || process.argv[2] !== '--child') return;
  run(JSON.parse(process.env.BENCH_CHILD!) as Task).then(
    (result) => process.send!(result, () => process.exit(0)),
    (error: Error) => process.send!({ error: error.stack ?? String(error) }, () => process.exit(1)),
  );
}
