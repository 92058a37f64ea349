// Runs node with the local CA trusted. Node reads NODE_EXTRA_CA_CERTS only when it starts, and MSAL insists on an
// https authority, so the local Entra endpoint's certificate must be trusted before the process that uses it starts.
//   node scripts/with-local-ca.mjs <script> [args...]         node --enable-source-maps <script> [args...]
//   node scripts/with-local-ca.mjs --test [node test args...]  every dist/test/**/*.test.js, one file at a time
// Needs a build first (npm's pre-scripts do it): the certificate code is imported from dist.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const certsModule = join(repo, 'dist/src/local/certs.js');
if (!existsSync(certsModule)) {
  console.error(`${relative(repo, certsModule)} is missing: run "npm run build" first.`);
  process.exit(1);
}
const { ensureLocalCertificates } = await import(certsModule);
const { caPath } = await ensureLocalCertificates(join(repo, '.local/certs'));

const [first, ...rest] = process.argv.slice(2);
if (!first) {
  console.error('usage: node scripts/with-local-ca.mjs <script> [args...] | --test [node test args...]');
  process.exit(2);
}
let args;
if (first === '--test') {
  const files = testFiles(join(repo, 'dist/test'));
  if (files.length === 0) {
    console.error('No dist/test/**/*.test.js files: run "npm run build" first.');
    process.exit(1);
  }
  // Node 20 has no glob for --test, hence the explicit list. One file at a time: the files share fixed resources
  // such as the certificate directory and the machine's two cores.
  args = ['--enable-source-maps', '--test', '--test-concurrency=1', ...rest, ...files];
} else {
  args = ['--enable-source-maps', first, ...rest];
}

const child = spawn(process.execPath, args, {
  stdio: 'inherit',
  env: { ...process.env, NODE_EXTRA_CA_CERTS: caPath },
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
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
