// Tools a few checks need from the machine beyond `npm install`: a Chromium-family browser for the inbox page, and a
// Bicep compiler (or the .NET SDK that restores one) for the infra settings. Where one is missing on a developer's
// machine, only the checks that need it are skipped, each saying what to install. TEST_REQUIRE_ALL=1 (set by .ci/run)
// makes every such check required: it then runs, and fails on the missing tool.
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, win32 } from 'node:path';
import type { test as nodeTest, TestContext } from 'node:test';

export const REQUIRE_ALL_SETTING = 'TEST_REQUIRE_ALL';
export const BROWSER_SETTING = 'CHROMIUM_PATH';

/**
 * A tool found at `path`, or why it was not: `missing` says what to install, for a skip or a failure; `misconfigured`
 * when a setting names a tool that is not there, which fails rather than skips.
 */
export type Found = { path: string; missing?: undefined } | { path?: undefined; missing: string; misconfigured?: true };

export interface Machine {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
  /** True for a file this process may execute. */
  executable: (path: string) => boolean;
}

export const THIS_MACHINE: Machine = { env: process.env, platform: process.platform, home: homedir(), executable: isExecutable };

export function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    if (process.platform !== 'win32') accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Every check required (no skips): TEST_REQUIRE_ALL=1. */
export function requireAll(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[REQUIRE_ALL_SETTING] === '1';
}

/**
 * `test` whose tests skip themselves with the message `reason()` returns once the file's `before` hook has run (when
 * it returns one): for a file whose tool is looked for in that hook.
 */
export function skippable(test: typeof nodeTest, reason: () => string | undefined) {
  return (name: string, fn: (t: TestContext) => void | Promise<void>): void => {
    void test(name, (t) => {
      const skip = reason();
      if (skip === undefined) return fn(t);
      t.skip(skip);
    });
  };
}

/**
 * The `skip` option of a node:test test or suite that needs `tool`: the skip message when the tool is missing and not
 * every check is required, otherwise undefined (the check runs, and its setup fails with `tool.missing`). A skip is
 * also written to stderr at once, so it stands out in the run's output rather than only in the summary's count.
 */
export function skipUnlessFound(
  tool: Found,
  check: string,
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): string | undefined {
  if (tool.path !== undefined || tool.misconfigured || requireAll(env)) return undefined;
  const message = `${check} SKIPPED: ${tool.missing} (${REQUIRE_ALL_SETTING}=1 makes this a failure)`;
  say(message);
  return message;
}

/** Where a browser may be installed, in the order it is looked for, after the setting and Playwright's own. */
export function usualBrowserPaths({ env, platform, home }: Pick<Machine, 'env' | 'platform' | 'home'>): string[] {
  if (platform === 'darwin') {
    const apps = ['/Applications', join(home, 'Applications')];
    return apps.flatMap((dir) => [
      join(dir, 'Chromium.app/Contents/MacOS/Chromium'),
      join(dir, 'Google Chrome.app/Contents/MacOS/Google Chrome'),
      join(dir, 'Microsoft Edge.app/Contents/MacOS/Microsoft Edge'),
    ]);
  }
  if (platform === 'win32') {
    const roots = [env.LOCALAPPDATA, env.PROGRAMFILES, env['PROGRAMFILES(X86)']].filter((dir): dir is string => !!dir);
    return roots.flatMap((dir) => [
      win32.join(dir, 'Chromium', 'Application', 'chrome.exe'),
      win32.join(dir, 'Google', 'Chrome', 'Application', 'chrome.exe'),
      win32.join(dir, 'Microsoft', 'Edge', 'Application', 'msedge.exe'),
    ]);
  }
  // Debian, Ubuntu (the chromium-browser name, and the snap), Fedora and Arch, then Google's and Microsoft's packages.
  return [
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/snap/bin/chromium',
    '/usr/bin/google-chrome-stable',
    '/usr/bin/google-chrome',
    '/opt/google/chrome/chrome',
    '/usr/bin/microsoft-edge-stable',
    '/usr/bin/microsoft-edge',
  ];
}

const BROWSER_INSTALL: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'Chromium ("apt-get install chromium" on Debian, "snap install chromium" on Ubuntu) or Google Chrome',
  darwin: 'Google Chrome or Chromium (in /Applications)',
  win32: 'Google Chrome or Microsoft Edge',
};

/**
 * The browser for the inbox page's test: the CHROMIUM_PATH setting when given (a path that is not there is then an
 * error, never a fallback), then the Chromium that Playwright installed for this playwright-core
 * (`npx playwright-core install chromium`; `playwrightChromium` is playwright-core's `chromium.executablePath`), then
 * the usual install paths of Chromium, Chrome and Edge.
 */
export function findBrowser(playwrightChromium: () => string, machine: Machine = THIS_MACHINE): Found {
  const given = machine.env[BROWSER_SETTING];
  if (given) {
    return machine.executable(given)
      ? { path: given }
      : {
          missing: `${BROWSER_SETTING} names ${given}, which is not an executable file: point it at a Chromium, Chrome or Edge`,
          misconfigured: true,
        };
  }
  const candidates = [safely(playwrightChromium), ...usualBrowserPaths(machine)].filter((path): path is string => !!path);
  const path = candidates.find((candidate) => machine.executable(candidate));
  if (path) return { path };
  const install = BROWSER_INSTALL[machine.platform] ?? 'Chromium, Chrome or Edge';
  return {
    missing: `no Chromium-family browser found: install ${install}, run "npx playwright-core install chromium", or set ${BROWSER_SETTING} to a browser's executable`,
  };
}

function safely(path: () => string): string | undefined {
  try {
    return path();
  } catch {
    return undefined;
  }
}

/** An executable named `name` on PATH (with Windows' PATHEXT). */
export function onPath(name: string, { env, platform, executable }: Machine = THIS_MACHINE): string | undefined {
  const extensions = platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  const dirs = (env.PATH ?? env.Path ?? '').split(platform === 'win32' ? ';' : delimiter).filter(Boolean);
  for (const dir of dirs) {
    for (const extension of extensions) {
      const candidate = platform === 'win32' ? win32.join(dir, name + extension) : join(dir, name + extension);
      if (executable(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * What compiles infra/ for the infra settings test, searched as scripts/validate-infra.sh searches: $BICEP, `bicep`
 * on PATH, ~/.azure/bin (az bicep install), .local/bicep, the NuGet cache validate-infra.sh restores into; else the
 * .NET SDK's `dotnet`, with which that script restores the Bicep CLI from NuGet.
 */
export function findBicepCompiler(root: string, machine: Machine = THIS_MACHINE): Found {
  const { env, home } = machine;
  const bicep = machine.platform === 'win32' ? 'bicep.exe' : 'bicep';
  const cache = env.BICEP_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(home, '.cache'), 'exo-smtp-mailer', 'bicep');
  const candidates = [
    env.BICEP,
    onPath('bicep', machine),
    join(home, '.azure', 'bin', bicep),
    join(root, '.local', 'bicep', bicep),
    ...filesNamed(join(cache, 'packages'), bicep),
    onPath('dotnet', machine),
  ];
  const path = candidates.find((candidate): candidate is string => !!candidate && machine.executable(candidate));
  if (path) return { path };
  return {
    missing:
      'no Bicep compiler: install the Bicep CLI (az bicep install, or https://aka.ms/bicep-install) or the .NET SDK ' +
      '(scripts/validate-infra.sh then restores Bicep from NuGet)',
  };
}

/** Files called `name` anywhere under `dir` (none when it does not exist). */
function filesNamed(dir: string, name: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.name === name && entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}
