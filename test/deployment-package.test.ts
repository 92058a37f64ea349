// The deployment package as azd builds it (azure.yaml: remoteBuild false, the prepackage hook
// infra/scripts/stage-package.mjs): the project files .funcignore lets through, the bundle, a package.json of its own
// and nothing else, and every function registering from that folder alone, the way the Functions Node.js worker loads
// it, in a process that can reach nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { httpFunctions, queueFunctions } from '../src/api/function-table';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const STAGE_SCRIPT = join(ROOT, 'infra', 'scripts', 'stage-package.mjs');
const FUNCIGNORE = join(ROOT, '.funcignore');

/** Project paths that must never ship: sources, tests, tools, infrastructure, local secrets, installed packages. */
const MUST_NOT_SHIP = [
  'src',
  'test',
  'bench',
  'scripts',
  'infra',
  'connector',
  'node_modules',
  'local.settings.json',
  'local.settings.example.json',
  'tsconfig.json',
  'eslint.config.mjs',
  '.prettierrc.json',
  'azure.yaml',
  '.funcignore',
  'README.md',
  'package-lock.json',
  'dist/test',
  'dist/bench',
  'dist/src/local',
  'dist/package',
];
/** What may ship: the bundle, host.json, the package's package.json, and the mail templates the app reads beside host.json. */
const MAY_SHIP = /^(dist\/src\/[^/]+\.(js|txt)|dist\/src\/functions\/[^/]+\.js|host\.json|package\.json|templates\/.+)$/;

interface StageModule {
  parseIgnore: (text: string) => unknown[];
  isIgnored: (rules: unknown[], path: string, isDir?: boolean) => boolean;
  stagePackage: (options: { out: string; build: boolean; ignoreFile?: string }) => Promise<unknown>;
}

interface StageReport {
  size: { files: number; bytes: number; zipBytes: number };
  entries: { name: string; source: string }[];
  outputs: { path: string; bytes: number; externals: string[] }[];
  packages: { name: string; version: string; path: string }[];
}

// The same module the hook runs; an .mjs, so imported, not required.
const stageModule = (): Promise<StageModule> => import(pathToFileURL(STAGE_SCRIPT).href);

function withTempDir<T>(prefix: string, body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let result: T;
  try {
    result = body(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // A promise cleans up when it settles, whichever way.
  if (result instanceof Promise) return result.finally(() => rmSync(dir, { recursive: true, force: true })) as T;
  rmSync(dir, { recursive: true, force: true });
  return result;
}

/** Every file under dir, slash-separated and relative to it. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) =>
      relative(dir, join(entry.parentPath ?? entry.path, entry.name))
        .split(sep)
        .join('/'),
    );
}

// Runs in a child process whose working directory is the package, as the Functions Node.js worker does: it provides
// "@azure/functions-core" through Module.prototype.require, imports every file of the "main" glob (ES modules:
// the package's package.json says "type": "module"), records what registers, runs the appStart hooks (the settings
// are read and checked), then imports every other file of the bundle: the chunks that load on first use, the
// handlers and the runtime with the SDKs among them.
const LOADER = `
const Module = require('node:module');
const path = require('node:path');
const { readdirSync, readFileSync } = require('node:fs');
const { pathToFileURL } = require('node:url');
const root = process.cwd();
const seen = [];
const hooks = [];
const core = {
  version: '3.0.0',
  hostVersion: '4.0.0',
  setProgrammingModel: (model) => seen.push({ kind: 'programmingModel', name: model.name }),
  getProgrammingModel: () => undefined,
  registerFunction: (metadata) => (seen.push({ kind: 'function', metadata }), { dispose() {} }),
  registerHook: (name, callback) => (seen.push({ kind: 'hook', name }), hooks.push({ name, callback }), { dispose() {} }),
  log: () => {},
};
Module.prototype.require = new Proxy(Module.prototype.require, {
  apply: (target, self, args) => (args[0] === '@azure/functions-core' ? core : Reflect.apply(target, self, args)),
});
const logged = [];
const log = console.log;
console.log = (...args) => logged.push(args.join(' '));
(async () => {
  const { main, type } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const dir = path.dirname(main);
  const pattern = new RegExp('^' + path.basename(main).replace(/[.]/g, '\\\\.').replace(/\\*/g, '[^/]*') + '$');
  const entries = readdirSync(path.join(root, dir)).filter((f) => pattern.test(f)).sort();
  const load = (file) => (type === 'module' ? import(pathToFileURL(file).href) : require(file));
  for (const file of entries) await load(path.join(root, dir, file));
  for (const hook of hooks.filter((h) => h.name === 'appStart')) await hook.callback({ hookData: {}, appHookData: {}, functionAppDirectory: root });
  const chunks = readdirSync(path.join(root, 'dist/src')).filter((f) => f.endsWith('.js')).sort();
  for (const file of chunks) await load(path.join(root, 'dist/src', file));
  const outside = Object.keys(require.cache).filter((f) => f !== __filename && !f.startsWith(root + path.sep));
  log(JSON.stringify({ entries, chunks, seen, logged, outside }));
  process.exit(0);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

interface Registration {
  kind: string;
  name?: string;
  metadata?: {
    name: string;
    bindings: Record<
      string,
      { type: string; direction: string; route?: string; methods?: string[]; authLevel?: string; queueName?: string; connection?: string }
    >;
  };
}

/** A configuration the runtime accepts, with nothing reachable behind it: the appStart hook only reads and checks it. */
const START_SETTINGS = {
  MailStorage: 'UseDevelopmentStorage=true',
  MAIL_AUTH_MODE: 'managedIdentity',
  MAIL_ALLOWED_SENDERS: 'noreply@contoso.example',
};

test('the package azd deploys holds the bundle and nothing else, and every function registers from it alone', { timeout: 180_000 }, () =>
  withTempDir('mail-package-', (dir) => {
    const pkg = join(dir, 'package');
    const reportPath = join(dir, 'report.json');
    // As the prepackage hook does, less the type check (npm test has just compiled everything).
    const stage = spawnSync(process.execPath, [STAGE_SCRIPT, '--out', pkg, '--no-build', '--report', reportPath], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(stage.status, 0, `stage-package failed (${stage.signal ?? stage.status}):\n${stage.stdout}\n${stage.stderr}`);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as StageReport;

    // What ships: one entry per src/functions/*.ts where "main" finds it, the bundle beside it, and no more.
    const files = listFiles(pkg);
    const sources = readdirSync(join(ROOT, 'src', 'functions'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -3));
    for (const name of sources)
      assert.ok(files.includes(`dist/src/functions/${name}.js`), `the package lacks dist/src/functions/${name}.js`);
    for (const path of MUST_NOT_SHIP) {
      assert.ok(!files.some((f) => f === path || f.startsWith(`${path}/`)), `${path} must not ship, but the package has it`);
    }
    assert.deepEqual(
      files.filter((f) => !MAY_SHIP.test(f)),
      [],
      'files in the package that nothing there uses',
    );
    const shipped = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
    const project = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(shipped.main, project.main);
    assert.equal(shipped.type, 'module', 'the worker imports the entries as ES modules only when package.json says so');
    assert.equal(shipped.dependencies, undefined, 'nothing is installed in Azure: the bundle holds every dependency');

    // Only production dependencies are bundled, each with its licence text. The bundle imports nothing outside itself
    // but Node's built-ins, the worker's core API, and what a production install would not have either (packages that
    // optional requires try: development-only or not installed at all).
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages as Record<string, { dev?: boolean }>;
    const production = (path: string) => lock[path] !== undefined && lock[path].dev !== true;
    assert.deepEqual(
      report.packages.filter((p) => !production(p.path)).map((p) => p.path),
      [],
      'development or unlocked packages in the bundle',
    );
    const notices = readFileSync(join(pkg, 'dist', 'src', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const p of report.packages) assert.ok(notices.includes(`${p.name}@${p.version}`), `no licence entry for ${p.name}@${p.version}`);
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const packageOf = (specifier: string) =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/');
    const externals = [...new Set(report.outputs.flatMap((o) => o.externals))].filter(
      (e) => !builtins.has(e) && e !== '@azure/functions-core',
    );
    assert.deepEqual(
      externals.filter((e) => production(`node_modules/${packageOf(e)}`)),
      [],
      'production packages left out of the bundle',
    );

    // Load every function from the package alone: no NODE_PATH, no node_modules anywhere above the temp dir's package.
    const env: NodeJS.ProcessEnv = { ...process.env, ...START_SETTINGS };
    for (const name of ['NODE_PATH', 'NODE_OPTIONS', 'MAIL_CALLERS', 'APPLICATIONINSIGHTS_CONNECTION_STRING']) delete env[name];
    const loaderPath = join(dir, 'load-functions.cjs');
    writeFileSync(loaderPath, LOADER);
    const load = spawnSync(process.execPath, [loaderPath], { cwd: pkg, encoding: 'utf8', timeout: 60_000, env });
    assert.equal(load.status, 0, `loading the functions from the package failed:\n${load.stderr}`);
    const result = JSON.parse(load.stdout) as {
      entries: string[];
      chunks: string[];
      seen: Registration[];
      logged: string[];
      outside: string[];
    };
    assert.deepEqual(result.outside, [], 'modules loaded from outside the package');
    assert.equal(
      result.seen.filter((r) => r.kind === 'programmingModel').length,
      1,
      'one copy of @azure/functions for every entry: app.setup and the registrations must share it',
    );
    const registered = new Map(
      result.seen.filter((r) => r.kind === 'function').map((r) => [r.metadata!.name, Object.values(r.metadata!.bindings)]),
    );
    assert.deepEqual(
      [...registered.keys()].sort(),
      [...httpFunctions(), ...queueFunctions()].map((f) => f.name).sort(),
      `registered from ${result.entries.join(', ')}`,
    );
    for (const spec of httpFunctions()) {
      const trigger = registered.get(spec.name)!.find((b) => b.type === 'httpTrigger')!;
      assert.deepEqual(
        { route: trigger.route, methods: trigger.methods, authLevel: trigger.authLevel },
        { route: spec.route, methods: [spec.method], authLevel: spec.authLevel },
        spec.name,
      );
    }
    for (const spec of queueFunctions()) {
      const trigger = registered.get(spec.name)!.find((b) => b.type === 'queueTrigger')!;
      assert.deepEqual(
        { queueName: trigger.queueName, connection: trigger.connection },
        { queueName: spec.queueName, connection: spec.connection },
        spec.name,
      );
    }
    assert.ok(
      result.seen.some((r) => r.kind === 'hook' && r.name === 'appStart'),
      'the configuration check at start is registered',
    );
    assert.ok(
      result.logged.some((line) => line.startsWith('Mail sender ready: auth managedIdentity')),
      `the runtime did not start from the package:\n${result.logged.join('\n')}\n${load.stderr}`,
    );
    assert.ok(result.chunks.length > 0);

    const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
    console.log(
      `deployment package: ${report.size.files} files, ${mb(report.size.bytes)}, ${mb(report.size.zipBytes)} zipped; ` +
        `${report.packages.length} packages bundled into ${result.chunks.length} chunks; functions ${[...registered.keys()].join(', ')}`,
    );
  }),
);

test('the staging script reads .funcignore as git does, for every file of the project', { timeout: 60_000 }, async (t) => {
  const git = spawnSync('git', ['--version'], { encoding: 'utf8' });
  if (git.status !== 0) {
    t.skip('git is not installed');
    return;
  }
  const { parseIgnore, isIgnored } = await stageModule();
  const rules = parseIgnore(readFileSync(FUNCIGNORE, 'utf8'));
  const paths = listFiles(ROOT).filter((f) => !/^(node_modules|\.git|dist\/package)\//.test(f) && !f.includes('/node_modules/'));
  assert.ok(paths.includes('host.json'));
  withTempDir('mail-funcignore-', (dir) => {
    // An empty repository whose only ignore file is .funcignore: git decides on the paths alone (--no-index).
    assert.equal(spawnSync('git', ['init', '-q', dir]).status, 0);
    writeFileSync(join(dir, '.gitignore'), readFileSync(FUNCIGNORE));
    const check = spawnSync('git', ['-C', dir, 'check-ignore', '--no-index', '--stdin'], {
      input: paths.join('\n'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.ok(check.status === 0 || check.status === 1, `git check-ignore failed: ${check.stderr}`);
    const byGit = new Set(check.stdout.split('\n').filter(Boolean));
    const disagree = paths.filter((p) => byGit.has(p) !== isIgnored(rules, p));
    assert.deepEqual(disagree, [], 'paths on which the staging script and git disagree');
  });
});

test('a .funcignore that drops host.json stops the staging before anything is built', { timeout: 60_000 }, async () => {
  const { stagePackage } = await stageModule();
  await withTempDir('mail-funcignore-', async (dir) => {
    // The mistake this guards against: an unanchored pattern ("*.json") matches host.json, without which the host
    // finds no app.
    const broken = join(dir, '.funcignore');
    writeFileSync(broken, `${readFileSync(FUNCIGNORE, 'utf8')}\n*.json\n`);
    const out = join(dir, 'package');
    await assert.rejects(stagePackage({ out, build: false, ignoreFile: broken }), /host\.json is not in the package/);
    assert.ok(!existsSync(out), 'nothing staged');
  });
});
