#!/usr/bin/env node
// Builds the deployment package of the Function App into a folder: what azd zips and deploys as is (azure.yaml:
// remoteBuild false, dist dist/package, this script as the service's prepackage hook).
//
//   1. a clean npm run build of dist/src (skipped with --no-build)
//   2. copies every project file that .funcignore does not exclude (gitignore rules, matched here without git, so it
//      also works from a downloaded copy); node_modules is never copied
//   3. npm ci --omit=dev in the package folder: production dependencies exactly as package-lock.json pins them
//
// A local build rather than a remote one: the package is exactly what the tests ran against, and the development
// dependencies (TypeScript, Azurite, the test SMTP server) never reach Azure. azd's own steps would ship the
// project's node_modules including those, which is why the package is staged here.
//
// Usage: node infra/scripts/stage-package.mjs [--out DIR] [--no-build] [--offline] [--ignore-file FILE]
//   --out          package folder (default dist/package; emptied first)
//   --offline      npm ci from the npm cache where it can (tests; the registry only for what the cache lacks)
//   --ignore-file  another ignore file instead of .funcignore (tests)
// Needs only node and npm. Exit code 1 with a message on any failure.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

function run(command, args, cwd) {
  // npm is npm.cmd on Windows, which only a shell starts.
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
}

/** Size of a folder: files and bytes. */
export function folderSize(dir) {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      files++;
      bytes += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
    }
  }
  return { files, bytes };
}

export function stagePackage({ root = ROOT, out = DEFAULT_OUT, build = true, offline = false, ignoreFile } = {}) {
  // npm run build starts with npm run clean: a stale dist/src/functions/*.js of a removed function never ships.
  if (build) run('npm', ['run', 'build'], root);
  const files = selectFiles(root, { ignoreFile: ignoreFile ?? join(root, '.funcignore'), out });
  for (const required of ['host.json', 'package.json', 'package-lock.json']) {
    if (!files.includes(required)) throw new Error(`${required} is not in the package: .funcignore excludes it`);
  }
  rmSync(out, { recursive: true, force: true });
  for (const file of files) {
    const target = join(out, ...file.split('/'));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(root, ...file.split('/')), target);
  }
  run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', ...(offline ? ['--prefer-offline'] : [])], out);
  return { out, files, size: folderSize(out) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const options = { build: true, offline: false };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') options.out = resolve(args[++i]);
    else if (args[i] === '--no-build') options.build = false;
    else if (args[i] === '--offline') options.offline = true;
    else if (args[i] === '--ignore-file') options.ignoreFile = resolve(args[++i]);
    else {
      console.error(`stage-package: unknown argument ${args[i]}`);
      process.exit(2);
    }
  }
  try {
    const { out, size } = stagePackage(options);
    console.log(`stage-package: ${relative(process.cwd(), out) || '.'}: ${size.files} files, ${(size.bytes / 1048576).toFixed(1)} MB`);
  } catch (error) {
    console.error(`stage-package: ${error.message}`);
    process.exit(1);
  }
}
