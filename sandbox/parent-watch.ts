// Noticing that the process which started this one is gone, whatever way it went: a signal this process never
// received (npm forwards SIGINT and SIGTERM but not SIGHUP), or SIGKILL, which leaves no chance to stop anything.
// An orphan gets a new parent, so a changed ppid says the parent died.
//
// Script runners (npm, yarn, pnpm) start a script through a shell (`sh -c …`, cmd.exe on Windows) that waits for it.
// When the runner dies of a signal it does not forward, that shell lives on and the script's parent seems fine: so
// when the parent is such a shell, the shell's own parent is watched as well.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const SHELLS = /^(sh|dash|bash|zsh|ksh|mksh|ash|busybox|cmd|cmd\.exe)$/i;

interface ProcessEntry {
  ppid: number;
  name: string;
  /** A zombie has ended; it only waits for its parent to collect its exit status. */
  ended: boolean;
}

/** The parent and the command name of a process, or undefined when it cannot be read. */
function describe(pid: number): ProcessEntry | undefined {
  try {
    if (existsSync(`/proc/${pid}/stat`)) {
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read from the last ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { ppid: Number(ppid), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ended: state === 'Z' };
    }
    if (process.platform === 'win32') return undefined;
    const [ppid, ...command] = execFileSync('ps', ['-o', 'ppid=,comm=', '-p', String(pid)], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    return { ppid: Number(ppid), name: command.join(' ').split('/').pop() ?? '', ended: false };
  } catch {
    return undefined;
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Where /proc tells (without starting a process per poll): a zombie has ended too.
  return !existsSync('/proc/self/stat') || describe(pid)?.ended !== true;
}

/** The processes whose end means ours should end: the parent, and the runner above it when the parent is a shell. */
export function watchedAncestors(): number[] {
  const parent = process.ppid;
  const shell = describe(parent);
  return shell && SHELLS.test(shell.name) && shell.ppid > 1 ? [parent, shell.ppid] : [parent];
}

/**
 * Calls `onGone` once (with the pid that went) when the parent, or the runner above a shell parent, is gone.
 * Polls every `intervalMs`; the timer does not keep the process alive. Returns a function that stops watching.
 */
export function watchParent(onGone: (pid: number) => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const watched = watchedAncestors();
  const timer = setInterval(() => {
    const gone = process.ppid !== parent ? parent : watched.find((pid) => !running(pid));
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, intervalMs).unref();
  return () => clearInterval(timer);
}
