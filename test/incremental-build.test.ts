// `npm run build` is incremental and never starts from an empty dist/, so output whose source is gone must be removed
// by the build itself: a stale dist/test/*.test.js would run as a test, a stale dist/src/functions/*.js would register
// as a function. Each test runs the project's own build script (package.json "build", the project's tsconfig.json and
// scripts/prune-dist.mjs) with npm on a small project of its own, so the repository's dist/ is never touched.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const temp = mkdtempSync(join(tmpdir(), 'incremental-build-'));
after(() => rmSync(temp, { recursive: true, force: true }));

const SOURCES: Record<string, string> = {
  'src/greeting.ts': 'export const greeting = (name: string): string => `Hello, ${name}`;\n',
  'src/functions/hello.ts': "import { greeting } from '../greeting';\nexport const hello = greeting('world');\n",
  'src/functions/ghost.ts': "import { greeting } from '../greeting';\nexport const ghost = greeting('ghost');\n",
  'test/ghost.test.ts': "import { ghost } from '../src/functions/ghost';\nexport const seen = ghost;\n",
  'test/support/reporter.mts': 'export default 1;\n',
  'bench/run.ts': "import { hello } from '../src/functions/hello';\nexport const measured = hello;\n",
};

/**
 * A project with the repository's build: its package.json scripts, tsconfig.json and prune script, the compiler and
 * Node's types linked from the repository's node_modules, and a node_modules/.package-lock.json of its own (npm
 * writes that file on every install).
 */
function project(name: string): string {
  const dir = join(temp, name);
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  write(dir, 'package.json', JSON.stringify({ name, private: true, scripts: { build: scripts.build } }));
  for (const file of ['tsconfig.json', 'scripts/prune-dist.mjs']) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(dir, file));
  }
  for (const pkg of ['typescript', '@types/node']) {
    mkdirSync(dirname(join(dir, 'node_modules', pkg)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', pkg), join(dir, 'node_modules', pkg), 'dir');
  }
  mkdirSync(join(dir, 'node_modules', '.bin'));
  symlinkSync(join('..', 'typescript', 'bin', 'tsc'), join(dir, 'node_modules', '.bin', 'tsc'));
  write(dir, 'node_modules/.package-lock.json', '{}');
  for (const [path, text] of Object.entries(SOURCES)) write(dir, path, text);
  return dir;
}

function write(dir: string, path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

function build(dir: string): string {
  const result = spawnSync('npm', ['run', 'build'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(result.status, 0, `npm run build failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

const built = (dir: string, path: string) => existsSync(join(dir, 'dist', path));
/** Marks an output as old, so a later build that writes it again is seen. */
const age = (dir: string, path: string) => utimesSync(join(dir, 'dist', path), new Date(2000, 0, 1), new Date(2000, 0, 1));
const rewritten = (dir: string, path: string) => statSync(join(dir, 'dist', path)).mtime.getFullYear() > 2000;

test('a deleted source leaves no output behind: its .js and .map go, nothing else does', { timeout: 300_000 }, () => {
  const dir = project('deleted');
  build(dir);
  for (const path of ['src/functions/ghost.js', 'src/functions/ghost.js.map', 'test/ghost.test.js', 'test/support/reporter.mjs'])
    assert.ok(built(dir, path), `${path} after the first build`);
  // Not compiler output: the bundle scripts/bundle.mjs writes under dist/ stays.
  write(dir, 'dist/bundle/dist/src/chunk-abc.js', 'export {};\n');

  rmSync(join(dir, 'src/functions/ghost.ts'));
  rmSync(join(dir, 'test/ghost.test.ts'));
  rmSync(join(dir, 'test/support/reporter.mts'));
  const output = build(dir);

  for (const path of [
    'src/functions/ghost.js',
    'src/functions/ghost.js.map',
    'test/ghost.test.js',
    'test/ghost.test.js.map',
    'test/support/reporter.mjs',
    'test/support',
  ])
    assert.ok(!built(dir, path), `dist/${path} is still there after its source was deleted`);
  assert.match(output, /removed dist\/src\/functions\/ghost\.js \(its source is gone\)/);
  for (const path of ['src/greeting.js', 'src/functions/hello.js', 'bench/run.js', 'bundle/dist/src/chunk-abc.js'])
    assert.ok(built(dir, path), `dist/${path} was removed`);
});

test('a renamed source: the old name’s output goes, the new name’s comes', { timeout: 300_000 }, () => {
  const dir = project('renamed');
  build(dir);
  renameSync(join(dir, 'bench/run.ts'), join(dir, 'bench/main.ts'));
  build(dir);
  assert.ok(!built(dir, 'bench/run.js'), 'the old name’s output is gone');
  assert.ok(built(dir, 'bench/main.js'), 'the new name’s output is there');
});

test(
  'an unchanged tree rewrites nothing; an output deleted by hand and a dependency install each make a full build',
  { timeout: 300_000 },
  () => {
    const dir = project('rebuilt');
    build(dir);
    age(dir, 'src/greeting.js');
    build(dir);
    assert.ok(!rewritten(dir, 'src/greeting.js'), 'a build of an unchanged tree wrote its output again');

    rmSync(join(dir, 'dist/src/functions/hello.js'));
    build(dir);
    assert.ok(built(dir, 'src/functions/hello.js'), 'an output deleted by hand is written again');
    assert.ok(rewritten(dir, 'src/greeting.js'), 'the build after a missing output compiles everything');

    age(dir, 'src/greeting.js');
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(dir, 'node_modules/.package-lock.json'), later, later);
    build(dir);
    assert.ok(rewritten(dir, 'src/greeting.js'), 'the build after npm installed dependencies compiles everything');
  },
);
