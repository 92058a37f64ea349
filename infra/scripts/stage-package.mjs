#!/usr/bin/env node
// Builds the deployment package of the Function App into a folder: what azd zips and deploys as is (azure.yaml:
// remoteBuild false, dist .deploy, this script as the service's prepackage hook).
//
// The folder is outside dist/ on purpose. azd's Node.js packaging runs the prepackage hook, then `npm run build`
// (which rewrites dist/ and removes the scripts it did not compile), then zips the service's dist folder: a package
// staged under dist/ would be overwritten or pruned before azd zips it.
//
//   1. type-checks the project (tsc --noEmit; skipped with --no-type-check, as the azd hook does: azd runs
//      `npm run build` right after the hook and a type error stops the packaging there)
//   2. copies what the app reads beside host.json, by an allow-list (PROJECT_FILES): host.json and the mail
//      templates; nothing else of the project folder, so a stray log, .env or key file there never ships
//   3. bundles the functions into dist/src (scripts/bundle.mjs): one entry file per function, shared and lazily
//      loaded chunks, every production dependency inside them, the licences beside them
//   4. writes the package's package.json: the project's "main", "type": "module" for the bundle, no dependencies
//
// No node_modules and no npm install: the bundle holds what runs, so a cold start reads a few files and the
// development dependencies (TypeScript, Azurite, the test SMTP server) never reach Azure.
//
// Usage: node infra/scripts/stage-package.mjs [--out DIR] [--no-type-check] [--report FILE]
//   --out            package folder (default .deploy; emptied first)
//   --no-type-check  skips step 1
//   --report         writes the package's size and the bundled packages as JSON (tests, benchmarks)
// Needs node and the project's npm ci (esbuild, typescript). Exit code 1 with a message on any failure.
import { spawnSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { bundleApp } from '../../scripts/bundle.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_OUT = join(ROOT, '.deploy');

/**
 * The project files the package takes, as slash-separated paths relative to the project: host.json (the host's
 * configuration) and the shipped mail templates (src/hooks reads them from templates/ beside host.json). Everything
 * else in the package is written here: the bundle and a package.json.
 */
export const PROJECT_FILES = [/^host\.json$/, /^templates\/[a-z0-9][a-z0-9-]*\/(template\.json|[a-z0-9][a-z0-9-]*\.liquid)$/];

/** Files under dir, slash-separated and relative to root; only regular files (a symlink could point anywhere). */
function regularFiles(root, dir) {
  const found = { files: [], skipped: [] };
  const walk = (abs) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const path = join(abs, entry.name);
      const rel = relative(root, path).split(sep).join('/');
      const stat = lstatSync(path);
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) found.files.push(rel);
      else found.skipped.push(rel);
    }
  };
  walk(join(root, dir));
  return found;
}

/**
 * What the package takes from the project: every file PROJECT_FILES allows in host.json and templates/, and the
 * files of templates/ it does not allow (not shipped, and said so). Fails when host.json is not a regular file.
 */
export function selectProjectFiles(root = ROOT) {
  let host;
  try {
    host = lstatSync(join(root, 'host.json'));
  } catch {
    throw new Error('host.json is missing: the package needs it');
  }
  if (!host.isFile()) throw new Error('host.json is not a regular file');
  const templates = regularFiles(root, 'templates');
  const allowed = (path) => PROJECT_FILES.some((pattern) => pattern.test(path));
  return {
    files: ['host.json', ...templates.files.filter(allowed)].sort(),
    notShipped: [...templates.files.filter((path) => !allowed(path)), ...templates.skipped].sort(),
  };
}

/** Size of a folder: files, bytes, and the bytes of a zip of it (deflate per file plus zip headers, as azd zips it). */
export function folderSize(dir) {
  let files = 0;
  let bytes = 0;
  let zipBytes = 22; // end of central directory
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    const content = readFileSync(path);
    const name = Buffer.byteLength(relative(dir, path).split(sep).join('/'));
    files++;
    bytes += content.length;
    // Local header (30) and central directory entry (46), each with the name; stored when deflate does not help.
    zipBytes += 76 + 2 * name + Math.min(content.length, deflateRawSync(content).length);
  }
  return { files, bytes, zipBytes };
}

/** Type errors stop a deployment: esbuild would bundle the code regardless. */
function typeCheck(root) {
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--noEmit'], { cwd: root, stdio: 'inherit' });
  if (result.error) throw new Error(`tsc: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`tsc --noEmit failed (exit ${result.status ?? result.signal})`);
}

/** The package's package.json: what the Functions host reads (main, type), and no dependencies, since none are installed. */
function packageJsonFor(root) {
  const project = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const { name, version, description, license, main, engines } = project;
  return { name, version, description, private: true, license, main, type: 'module', engines };
}

export async function stagePackage({ root = ROOT, out = DEFAULT_OUT, typeCheck: check = true } = {}) {
  if (check) typeCheck(root);
  const { files, notShipped } = selectProjectFiles(root);
  rmSync(out, { recursive: true, force: true });
  for (const file of files) {
    const target = join(out, ...file.split('/'));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(root, ...file.split('/')), target);
  }
  const bundle = await bundleApp({ root, out });
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(packageJsonFor(root), null, 2)}\n`);
  return { out, files, notShipped, size: folderSize(out), bundle };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const options = {};
  let report;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') options.out = resolve(args[++i]);
    else if (args[i] === '--no-type-check') options.typeCheck = false;
    else if (args[i] === '--report') report = resolve(args[++i]);
    else {
      console.error(`stage-package: unknown argument ${args[i]}`);
      process.exit(2);
    }
  }
  try {
    const { out, size, bundle, notShipped } = await stagePackage(options);
    const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
    if (report) {
      const { entries, outputs, packages, leftOut } = bundle;
      writeFileSync(report, JSON.stringify({ out, size, entries, outputs, packages, leftOut, notShipped }, null, 2));
    }
    for (const path of notShipped) console.log(`stage-package: not shipped (not a template file): ${path}`);
    console.log(
      `stage-package: ${relative(process.cwd(), out) || '.'}: ${size.files} files, ${mb(size.bytes)}, ${mb(size.zipBytes)} zipped; ${bundle.packages.length} packages bundled`,
    );
  } catch (error) {
    console.error(`stage-package: ${error.message}`);
    process.exit(1);
  }
}
