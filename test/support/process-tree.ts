// Which processes a process has started, for the test guards (a hung file's process, a whole run's tree) and for
// tests that check nothing was left running. Reads /proc where there is one, else asks ps.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Process group. */
  pgid: number;
  /** Command line, one element per argument (ps gives only one string, split on spaces). */
  args: string[];
}

/** Every process on the machine that is running (zombies, which run nothing and hold nothing, are left out). */
export function listProcesses(): ProcessInfo[] {
  if (existsSync('/proc/self/stat')) {
    const list: ProcessInfo[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so read from the last ')'.
        const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (state === 'Z') continue;
        const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
        list.push({ pid: Number(entry), ppid: Number(ppid), pgid: Number(pgid), args });
      } catch {
        // Ended while we looked.
      }
    }
    return list;
  }
  if (process.platform === 'win32') return [];
  return execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null && !m[4].startsWith('Z'))
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), pgid: Number(m[3]), args: m[5].split(' ') }));
}

/** The processes started by `pid`, and theirs, and so on; parents before their children. */
export function descendants(pid: number, all: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  const parents = new Set([pid]);
  for (let added = true; added;) {
    added = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        added = true;
      }
    }
  }
  return found;
}

/** Whether a process with this pid still exists (a zombie counts as gone: it runs nothing and holds no port). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  if (!existsSync('/proc/self/stat')) return true;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false; // ended since
  }
}
