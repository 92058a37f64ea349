// Deployment hooks run against stand-in commands (az, azd as shell scripts first on PATH) that log their calls, so a
// test sees what a hook would ask of Azure without an account.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary folder holding each stand-in as an executable and an empty call log (`<dir>/log`). */
export function standInFolder(prefix: string, commands: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const [name, text] of Object.entries(commands)) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  writeFileSync(join(dir, 'log'), '');
  return dir;
}

/**
 * Runs `sh script` with the stand-ins first on PATH and FAKE_LOG naming the call log, bounded at 30 s; the log is
 * emptied first, so `calls` are this run's only.
 */
export function runWithStandIns(dir: string, script: string, env: Record<string, string>) {
  writeFileSync(join(dir, 'log'), '');
  return new Promise<{ code: number | null; stdout: string; stderr: string; calls: string[] }>((resolve, reject) => {
    const child = spawn('sh', [script], {
      env: { PATH: `${dir}:${process.env.PATH ?? ''}`, FAKE_LOG: join(dir, 'log'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not end within 30 s:\n${stderr}`));
    }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr, calls: readFileSync(join(dir, 'log'), 'utf8').split('\n').filter(Boolean) });
    });
  });
}
