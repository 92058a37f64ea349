#!/usr/bin/env node
// Builds the deployment package of the Function App into a folder: what azd zips and deploys as is (azure.yaml:
// remoteBuild false, dist dist/package, this script as the service's prepackage hook).
//
//   1. type-checks the project (tsc --noEmit; skipped with --no-build): esbuild strips types without checking them
//   2. copies every project file that .funcignore does not exclude (gitignore rules, matched here without git, so it
//      also works from a downloaded copy), except dist/ and package*.json; node_modules is never copied
//   3. bundles the functions into dist/src (scripts/bundle.mjs): one entry file per function, shared and lazily
//      loaded chunks, every production dependency inside them, the licences beside them
//   4. writes the package's package.json: the project's "main", "type": "module" for the bundle, no dependencies
//
// No node_modules and no npm install: the bundle holds what runs, so a cold start reads a few files and the
// development dependencies (TypeScript, Azurite, the test SMTP server) never reach Azure.
//
// Usage: node infra/scripts/stage-package.mjs [--out DIR] [--no-build] [--ignore-file FILE] [--report FILE]
//   --out          package folder (default dist/package; emptied first)
//   --ignore-file  another ignore file instead of .funcignore (tests)
//   --report       writes the package's size and the bundled packages as JSON (tests, benchmarks)
//   --offline      accepted and ignored: nothing is installed any more
// Needs node and the project's npm ci (esbuild, typescript). Exit code 1 with a message on any failure.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { bundleApp } from '../../scripts/bundle.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_OUT = join(ROOT, 'dist', 'package');

/** Escapes a literal for a regular expression. */
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** One gitignore pattern as a regular expression over a slash-separated path relative to the ignore file. */
function patternToRegExp(pattern) {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      const before = i === 0 || pattern[i - 1] === '/';
      const after = pattern[i + 2] === undefined || pattern[i + 2] === '/';
      if (before && after) {
        // "**/" = zero or more directories; a trailing "/**" = everything inside.
        if (pattern[i + 2] === '/') {
          out += '(?:[^/]*/)*';
          i += 2;
        } else {
          out += '.*';
          i += 1;
        }
        continue;
      }
    }
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let set = pattern.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      out += `[${set.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) out += literal(pattern[++i]);
    else out += literal(c);
  }
  return out;
}

/** Parses an ignore file (gitignore syntax) into ordered rules. */
export function parseIgnore(text) {
  const rules = [];
  for (let line of text.split('\n')) {
    line = line.replace(/\r$/, '');
    if (!line.trim() || line.startsWith('#')) continue;
    line = line.replace(/(?<!\\)\s+$/, '');
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith('\\!') || line.startsWith('\\#')) line = line.slice(1);
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.replace(/\/+$/, '');
    }
    // A slash at the start or in the middle anchors the pattern to the ignore file's folder; otherwise it matches
    // at any depth (the trap: an unanchored "src" also matches dist/src).
    const anchored = line.includes('/');
    line = line.replace(/^\//, '');
    if (!line) continue;
    const body = patternToRegExp(line);
    rules.push({ negate, dirOnly, regexp: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`) });
  }
  return rules;
}

/** The last matching rule decides for this one path (its parents are not looked at). */
function decide(rules, path, isDir) {
  let ignored = false;
  for (const rule of rules) {
    if (rule.dirOnly && !isDir) continue;
    if (rule.regexp.test(path)) ignored = !rule.negate;
  }
  return ignored;
}

/** gitignore semantics: a path is excluded when it or any folder above it is (a file in an excluded folder cannot be re-included). */
export function isIgnored(rules, path, isDir = false) {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    if (decide(rules, parts.slice(0, i).join('/'), true)) return true;
  }
  return decide(rules, path, isDir);
}

/** Project files the package takes, as slash-separated paths relative to root; never node_modules or the output. */
export function selectFiles(root = ROOT, { ignoreFile = join(root, '.funcignore'), out = DEFAULT_OUT } = {}) {
  const rules = parseIgnore(existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '');
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, entry.name);
      const rel = relative(root, abs).split(sep).join('/');
      const isDir = entry.isDirectory();
      if (isDir && (rel === 'node_modules' || resolve(abs) === resolve(out))) continue;
      if (isIgnored(rules, rel, isDir)) continue;
      if (isDir) walk(abs);
      else if (entry.isFile()) files.push(rel);
    }
  };
  walk(root);
  return files.sort();
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

export async function stagePackage({ root = ROOT, out = DEFAULT_OUT, build = true, ignoreFile } = {}) {
  if (build) typeCheck(root);
  // dist/ comes from the bundle, not from tsc's output; package.json is written for the package.
  const files = selectFiles(root, { ignoreFile: ignoreFile ?? join(root, '.funcignore'), out }).filter(
    (file) => !file.startsWith('dist/') && file !== 'package.json' && file !== 'package-lock.json',
  );
  if (!files.includes('host.json')) throw new Error('host.json is not in the package: .funcignore excludes it');
  rmSync(out, { recursive: true, force: true });
  for (const file of files) {
    const target = join(out, ...file.split('/'));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(root, ...file.split('/')), target);
  }
  const bundle = await bundleApp({ root, out });
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(packageJsonFor(root), null, 2)}\n`);
  return { out, files, size: folderSize(out), bundle };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const options = { build: true };
  let report;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') options.out = resolve(args[++i]);
    else if (args[i] === '--no-build') options.build = false;
    else if (args[i] === '--offline') continue;
    else if (args[i] === '--ignore-file') options.ignoreFile = resolve(args[++i]);
    else if (args[i] === '--report') report = resolve(args[++i]);
    else {
      console.error(`stage-package: unknown argument ${args[i]}`);
      process.exit(2);
    }
  }
  try {
    const { out, size, bundle } = await stagePackage(options);
    const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
    if (report) {
      const { entries, outputs, packages, leftOut } = bundle;
      writeFileSync(report, JSON.stringify({ out, size, entries, outputs, packages, leftOut }, null, 2));
    }
    console.log(
      `stage-package: ${relative(process.cwd(), out) || '.'}: ${size.files} files, ${mb(size.bytes)}, ${mb(size.zipBytes)} zipped; ${bundle.packages.length} packages bundled`,
    );
  } catch (error) {
    console.error(`stage-package: ${error.message}`);
    process.exit(1);
  }
}
