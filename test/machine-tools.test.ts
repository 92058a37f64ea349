// How the suite finds the browser and the Bicep compiler on a developer's machine, and when a missing one skips its
// checks or fails them: machines described as data (which files are executable), plus the real cache folder walk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  findBicepCompiler,
  findBrowser,
  isExecutable,
  onPath,
  skipUnlessFound,
  usualBrowserPaths,
  type Machine,
} from './support/machine-tools';

function machine(executables: string[], env: NodeJS.ProcessEnv = {}, platform: NodeJS.Platform = 'linux'): Machine {
  const files = new Set(executables);
  return { env, platform, home: '/home/dev', executable: (path) => files.has(path) };
}
const PLAYWRIGHT = '/home/dev/.cache/ms-playwright/chromium-1255/chrome-linux64/chrome';
const playwright = () => PLAYWRIGHT;

test('the CHROMIUM_PATH setting wins; a path that is not there is an error naming the setting, never a fallback', () => {
  const everything = [PLAYWRIGHT, '/usr/bin/chromium', '/opt/edge/msedge'];
  assert.deepEqual(findBrowser(playwright, machine(everything, { CHROMIUM_PATH: '/opt/edge/msedge' })), { path: '/opt/edge/msedge' });
  const wrong = findBrowser(playwright, machine(everything, { CHROMIUM_PATH: '/opt/nothing/chrome' }));
  assert.equal(wrong.path, undefined);
  assert.match(wrong.missing ?? '', /CHROMIUM_PATH names \/opt\/nothing\/chrome, which is not an executable file/);
  assert.equal(
    skipUnlessFound(wrong, 'inbox page', {}, () => undefined),
    undefined,
    'a wrong setting fails the check, never skips it',
  );
});

test("Playwright's own Chromium comes before the usual paths, and is passed over when not installed or unknown", () => {
  assert.deepEqual(findBrowser(playwright, machine([PLAYWRIGHT, '/usr/bin/chromium'])), { path: PLAYWRIGHT });
  assert.deepEqual(findBrowser(playwright, machine(['/usr/bin/chromium'])), { path: '/usr/bin/chromium' });
  const broken = () => {
    throw new Error('no registry');
  };
  assert.deepEqual(findBrowser(broken, machine(['/snap/bin/chromium'])), { path: '/snap/bin/chromium' });
});

test('the usual paths of each platform: Debian before the Ubuntu snap and Chrome; macOS apps; Windows per-user then machine-wide', () => {
  assert.deepEqual(findBrowser(playwright, machine(['/snap/bin/chromium', '/usr/bin/google-chrome'])), { path: '/snap/bin/chromium' });
  assert.deepEqual(findBrowser(playwright, machine(['/usr/bin/google-chrome-stable'])), { path: '/usr/bin/google-chrome-stable' });
  const chrome = '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome';
  assert.deepEqual(findBrowser(playwright, machine([chrome], {}, 'darwin')), { path: chrome });
  const windowsEnv = { LOCALAPPDATA: 'C:\\Users\\dev\\AppData\\Local', PROGRAMFILES: 'C:\\Program Files' };
  const edge = 'C:\\Program Files\\Microsoft\\Edge\\Application\\msedge.exe';
  const userChrome = 'C:\\Users\\dev\\AppData\\Local\\Google\\Chrome\\Application\\chrome.exe';
  assert.deepEqual(findBrowser(playwright, machine([edge], windowsEnv, 'win32')), { path: edge });
  assert.deepEqual(findBrowser(playwright, machine([edge, userChrome], windowsEnv, 'win32')), { path: userChrome });
  assert.ok(usualBrowserPaths(machine([], windowsEnv, 'win32')).every((path) => path.startsWith('C:\\')));
});

test('no browser anywhere: what to install, for this platform', () => {
  for (const [platform, install] of [
    ['linux', /install Chromium \("apt-get install chromium" on Debian, "snap install chromium" on Ubuntu\) or Google Chrome/],
    ['darwin', /Google Chrome or Chromium \(in \/Applications\)/],
    ['win32', /Google Chrome or Microsoft Edge/],
  ] as const) {
    const found = findBrowser(playwright, machine([], {}, platform));
    assert.equal(found.path, undefined, platform);
    assert.match(found.missing ?? '', install, platform);
    assert.match(found.missing ?? '', /npx playwright-core install chromium", or set CHROMIUM_PATH/, platform);
  }
});

test('a missing tool skips with a loud line naming what to install; TEST_REQUIRE_ALL=1 runs the check instead', () => {
  const said: string[] = [];
  const say = (line: string) => said.push(line);
  const missing = { missing: 'no Bicep compiler: install the Bicep CLI' };
  const skip = skipUnlessFound(missing, 'infra settings', {}, say);
  assert.equal(skip, 'infra settings SKIPPED: no Bicep compiler: install the Bicep CLI (TEST_REQUIRE_ALL=1 makes this a failure)');
  assert.deepEqual(said, [skip]);
  assert.equal(skipUnlessFound(missing, 'infra settings', { TEST_REQUIRE_ALL: '1' }, say), undefined);
  assert.equal(skipUnlessFound({ path: '/usr/bin/bicep' }, 'infra settings', {}, say), undefined);
  assert.equal(said.length, 1, 'only the skip says something');
});

test('the Bicep compiler: $BICEP, PATH, az bicep install, .local/bicep, else the .NET SDK to restore it; none: what to install', () => {
  const root = '/work/project';
  const path = { PATH: '/usr/local/bin:/usr/bin' };
  assert.deepEqual(findBicepCompiler(root, machine(['/opt/bicep', '/usr/bin/bicep'], { ...path, BICEP: '/opt/bicep' })), {
    path: '/opt/bicep',
  });
  assert.deepEqual(findBicepCompiler(root, machine(['/usr/bin/bicep', '/usr/bin/dotnet'], path)), { path: '/usr/bin/bicep' });
  assert.deepEqual(findBicepCompiler(root, machine(['/home/dev/.azure/bin/bicep'], path)), { path: '/home/dev/.azure/bin/bicep' });
  assert.deepEqual(findBicepCompiler(root, machine(['/work/project/.local/bicep/bicep'], path)), {
    path: '/work/project/.local/bicep/bicep',
  });
  assert.deepEqual(findBicepCompiler(root, machine(['/usr/bin/dotnet'], path)), { path: '/usr/bin/dotnet' });
  const none = findBicepCompiler(root, machine([], path));
  assert.equal(none.path, undefined);
  assert.match(none.missing ?? '', /install the Bicep CLI \(az bicep install.*\) or the \.NET SDK/);
});

test('a Bicep CLI that validate-infra.sh restored into its cache is found, on disk; a non-executable file is not', (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'bicep-cache-'));
  t.after(() => rmSync(cache, { recursive: true, force: true }));
  const binary = join(cache, 'packages', 'azure.bicep.commandline.linux-x64', '0.49.2', 'tools', 'bicep');
  mkdirSync(join(binary, '..'), { recursive: true });
  writeFileSync(binary, '#!/bin/sh\n');
  const here: Machine = { env: { BICEP_CACHE_DIR: cache, PATH: '' }, platform: 'linux', home: cache, executable: isExecutable };
  if (process.platform !== 'win32') {
    chmodSync(binary, 0o644);
    assert.equal(findBicepCompiler(cache, here).path, undefined, 'not executable');
  }
  chmodSync(binary, 0o755);
  assert.equal(findBicepCompiler(cache, here).path, binary);
});

test('PATH lookup honours PATHEXT on Windows', () => {
  const windows = machine(['C:\\tools\\bicep.EXE'], { PATH: 'C:\\other;C:\\tools', PATHEXT: '.COM;.EXE' }, 'win32');
  assert.equal(onPath('bicep', windows), 'C:\\tools\\bicep.EXE');
  assert.equal(onPath('dotnet', windows), undefined);
});
