// The ARM template the real Bicep compiler makes of infra/main.bicep, kept in .local/arm/ (git-ignored) for checks that
// read what gets deployed rather than the Bicep source (test/infra-settings.test.ts).
//
// scripts/validate-infra.sh writes .local/arm/main.json and, beside it, the fingerprint of the sources it compiled.
// compiledMain() returns that template when the fingerprint matches infra/ as it is now, and otherwise compiles it
// with `bash scripts/validate-infra.sh --arm-only` (same compiler search and NuGet restore as the full check).
//
//   node infra/tools/compiled-arm.mjs fingerprint <infra-dir>     prints the fingerprint of a copy of infra/
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ARM_DIR = join('.local', 'arm');
export const ARM_FILE = join(ARM_DIR, 'main.json');
export const FINGERPRINT_FILE = join(ARM_DIR, 'main.sources.sha256');
export const COMPILE_COMMAND = 'bash scripts/validate-infra.sh --arm-only';

// What a compile reads: the templates, the files they load (loadTextContent), bicepconfig.json and the Graph types.
const COMPILE_INPUT = /\.(bicep|json|kql)$/;

/** sha256 over the relative path and content of every compile input under infraDir, in a fixed order. */
export function fingerprint(infraDir) {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (COMPILE_INPUT.test(entry.name)) files.push(path);
    }
  };
  walk(infraDir);
  const hash = createHash('sha256');
  for (const file of files.map((f) => relative(infraDir, f).split(sep).join('/')).sort()) {
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(infraDir, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

/** The saved template if it was compiled from infra/ as it is now; otherwise why not. */
export function savedMain(root) {
  const armFile = join(root, ARM_FILE);
  const stampFile = join(root, FINGERPRINT_FILE);
  if (!existsSync(armFile) || !existsSync(stampFile)) return { reason: `${ARM_FILE} does not exist yet` };
  const current = fingerprint(join(root, 'infra'));
  // The writer replaces the template before the fingerprint; reading the fingerprint on both sides of the template
  // catches a write in between.
  const before = readFileSync(stampFile, 'utf8').trim();
  const text = readFileSync(armFile, 'utf8');
  const after = readFileSync(stampFile, 'utf8').trim();
  if (before !== after) return { reason: `${ARM_FILE} was being rewritten` };
  if (before !== current) return { reason: `${ARM_FILE} was compiled from other sources than infra/ now` };
  return { template: JSON.parse(text) };
}

/**
 * The compiled template of infra/main.bicep for infra/ as it is now, compiling it first when needed. Rejects with the
 * compiler's own explanation (and the command to run) when no compiler can be had or the compile fails or times out.
 * The bound ends a hung compile: on a 2-core machine loaded with other test runs the compile took over 50 s.
 */
export async function compiledMain(root, { timeoutMs = 240_000 } = {}) {
  const saved = savedMain(root);
  if (saved.template) return saved.template;
  const output = await run(root, timeoutMs);
  const compiled = savedMain(root);
  if (compiled.template) return compiled.template;
  throw new Error(
    `No current compiled template of infra/main.bicep (${saved.reason}), and \`${COMPILE_COMMAND}\` did not make one ` +
      `(${compiled.reason}). These checks read the ARM template the real Bicep compiler makes; compiling needs the ` +
      `Bicep CLI (on PATH, or \`az bicep install\`) or the .NET SDK, which restores it from NuGet. Its output:\n` +
      output.trim().split('\n').slice(-15).join('\n'),
  );
}

/** Runs the compile in a process group of its own, killed as a whole when it takes too long. */
function run(root, timeoutMs) {
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let child;
    try {
      child = spawn('bash', ['scripts/validate-infra.sh', '--arm-only'], {
        cwd: root,
        detached: process.platform !== 'win32',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      resolve(`could not start bash: ${error.message}`);
      return;
    }
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (process.platform === 'win32') child.kill();
        else process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      // Should a descendant keep the output pipes open, stop waiting for them.
      setTimeout(() => resolve(`${output}\n(stopped after ${timeoutMs / 1000} s)`), 2000).unref();
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve(`${output}\ncould not run bash: ${error.message}`);
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve(timedOut ? `${output}\n(stopped after ${timeoutMs / 1000} s)` : output);
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, dir] = process.argv.slice(2);
  if (command !== 'fingerprint' || !dir) {
    console.error('usage: node infra/tools/compiled-arm.mjs fingerprint <infra-dir>');
    process.exit(2);
  }
  console.log(fingerprint(dir));
}
