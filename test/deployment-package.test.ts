// The deployment package as azd builds it: azure.yaml read as azd reads it, azd's packaging steps in azd's order
// (restore, the prepackage hook, `npm run build`, then the service's dist folder zipped), on a copy of the project
// with stray files in it that must not ship; then every function loaded from the unpacked zip alone, the way the
// Functions Node.js worker loads it, in a process that can reach nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { appFunctions } from '../src/hosting/app-functions';
import { azdPackage, extractZip, readAzureYaml } from './support/azd-package';
import { skipUnlessFound } from './support/machine-tools';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const STAGE_SCRIPT = join(ROOT, 'infra', 'scripts', 'stage-package.mjs');
const FUNCIGNORE = join(ROOT, '.funcignore');

/** What may ship: the bundle, host.json, the package's package.json, and the mail templates the app reads beside host.json. */
const MAY_SHIP =
  /^(dist\/src\/[^/]+\.(js|txt)|dist\/src\/functions\/[^/]+\.js|host\.json|package\.json|templates\/[^/]+\/(template\.json|[^/]+\.liquid))$/;

/** Files a developer's project folder may hold that must never ship, each with a marker that must not appear in the package. */
const STRAY_FILES: Record<string, string> = {
  'stage.log': 'stray-log-marker MAIL_CLIENT_SECRET=stage-log-secret',
  '.env': 'MAIL_CLIENT_SECRET=stray-env-marker',
  'client.pem': '-----BEGIN PRIVATE KEY-----\nstray-pem-marker\n-----END PRIVATE KEY-----\n',
  'local.settings.json': '{ "Values": { "MAIL_CLIENT_SECRET": "stray-settings-marker" } }',
  'templates/generic/notes.txt': 'stray-template-notes-marker',
};

interface StageModule {
  PROJECT_FILES: RegExp[];
  selectProjectFiles: (root?: string) => { files: string[]; notShipped: string[] };
  stagePackage: (options: { root?: string; out: string; typeCheck: boolean }) => Promise<{
    bundle: {
      packages: { name: string; version: string; path: string }[];
      outputs: { path: string; bytes: number; externals: string[] }[];
    };
  }>;
}

// The same module the hook runs; an .mjs, so imported, not required.
const stageModule = (): Promise<StageModule> => import(pathToFileURL(STAGE_SCRIPT).href);

async function withTempDir<T>(prefix: string, body: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A copy of the project as a fresh clone after `npm ci` has it: sources and configuration with their timestamps (azd
 * compares node_modules/.package-lock.json with package-lock.json), node_modules linked, no build output.
 */
function copyProject(target: string): void {
  const skip = new Set(['node_modules', '.git', 'dist', '.deploy', '.local', '.azure']);
  cpSync(ROOT, target, {
    recursive: true,
    preserveTimestamps: true,
    filter: (source) => {
      const rel = relative(ROOT, source).split(sep);
      return !(rel.length === 1 && skip.has(rel[0]));
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(target, 'node_modules'), process.platform === 'win32' ? 'junction' : 'dir');
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
      {
        type: string;
        direction: string;
        route?: string;
        methods?: string[];
        authLevel?: string;
        queueName?: string;
        connection?: string;
        schedule?: string;
      }
    >;
  };
}

/** A configuration the runtime accepts, with nothing reachable behind it: the appStart hook only reads and checks it. */
const START_SETTINGS = {
  MailStorage: 'UseDevelopmentStorage=true',
  MAIL_AUTH_MODE: 'managedIdentity',
  MAIL_ALLOWED_SENDERS: 'noreply@contoso.example',
};

test(
  "azd package, step by step in azd's order: the folder azd zips survives the build, holds an allow-list and no stray file, and every function registers from the zip alone",
  { timeout: 600_000 },
  () =>
    withTempDir('mail-azd-package-', (dir) => {
      const project = join(dir, 'project');
      copyProject(project);
      for (const [path, content] of Object.entries(STRAY_FILES)) {
        mkdirSync(join(project, path, '..'), { recursive: true });
        writeFileSync(join(project, path), content);
      }

      const azd = readAzureYaml(project);
      assert.equal(azd.services.length, 1, 'one service');
      const [service] = azd.services;
      assert.deepEqual(
        { language: service.language, host: service.host, remoteBuild: service.remoteBuild },
        { language: 'ts', host: 'function', remoteBuild: 'false' },
        'a TypeScript Function App deployed as built',
      );
      assert.ok(service.hooks.prepackage, 'the package is staged by the prepackage hook');

      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const name of ['NODE_OPTIONS', 'NODE_PATH']) delete env[name];
      const result = azdPackage(project, service, azd.hooks, env);
      const lastLine = (output: string) => output.trim().split('\n').slice(-1)[0] ?? '';
      const log = result.steps.map(({ step, output }) => `${step}: ${lastLine(output)}`).join('\n');

      // The folder the hook staged is the folder azd zips: `npm run build` left it as it was.
      assert.ok(result.afterPrepackage.size > 0, `the prepackage hook staged nothing in ${service.dist}:\n${log}`);
      assert.deepEqual([...result.beforeZip.keys()], [...result.afterPrepackage.keys()], 'files the build removed or added');
      for (const [path, content] of result.afterPrepackage)
        assert.ok(content.equals(result.beforeZip.get(path)!), `${path} changed between the prepackage hook and the zip`);

      // What ships: the allow-list only, never the stray files nor their content.
      const unpacked = join(dir, 'wwwroot');
      const files = extractZip(result.zip, unpacked).sort();
      assert.deepEqual(
        files.filter((f) => !MAY_SHIP.test(f)),
        [],
        'files in the package that nothing there uses',
      );
      for (const name of readdirSync(join(ROOT, 'src', 'functions')).filter((f) => f.endsWith('.ts')))
        assert.ok(
          files.includes(`dist/src/functions/${name.slice(0, -3)}.js`),
          `the package lacks dist/src/functions/${name.slice(0, -3)}.js`,
        );
      for (const [path, content] of Object.entries(STRAY_FILES)) {
        assert.ok(!files.some((f) => f === path || f.endsWith(`/${path}`)), `${path} shipped`);
        const marker = /stray-[a-z-]+-marker/.exec(content)![0];
        const carrier = files.find((f) => readFileSync(join(unpacked, f), 'utf8').includes(marker));
        assert.equal(carrier, undefined, `the content of ${path} shipped in ${carrier}`);
      }
      const shipped = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8'));
      const projectPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
      assert.equal(shipped.main, projectPackage.main);
      assert.equal(shipped.type, 'module', 'the worker imports the entries as ES modules only when package.json says so');
      assert.equal(shipped.dependencies, undefined, 'nothing is installed in Azure: the bundle holds every dependency');

      // Load every function from the unpacked zip alone: no NODE_PATH, no node_modules anywhere above it.
      const loadEnv: NodeJS.ProcessEnv = { ...process.env, ...START_SETTINGS };
      for (const name of ['NODE_PATH', 'NODE_OPTIONS', 'MAIL_CALLERS', 'APPLICATIONINSIGHTS_CONNECTION_STRING']) delete loadEnv[name];
      const loaderPath = join(dir, 'load-functions.cjs');
      writeFileSync(loaderPath, LOADER);
      const load = spawnSync(process.execPath, [loaderPath], { cwd: unpacked, encoding: 'utf8', timeout: 60_000, env: loadEnv });
      assert.equal(load.status, 0, `loading the functions from the package failed:\n${load.stderr}`);
      const loaded = JSON.parse(load.stdout) as {
        entries: string[];
        chunks: string[];
        seen: Registration[];
        logged: string[];
        outside: string[];
      };
      assert.deepEqual(loaded.outside, [], 'modules loaded from outside the package');
      assert.equal(
        loaded.seen.filter((r) => r.kind === 'programmingModel').length,
        1,
        'one copy of @azure/functions for every entry: app.setup and the registrations must share it',
      );
      const registered = new Map(
        loaded.seen.filter((r) => r.kind === 'function').map((r) => [r.metadata!.name, Object.values(r.metadata!.bindings)]),
      );
      assert.deepEqual(
        [...registered.keys()].sort(),
        [...appFunctions().http, ...appFunctions().queue, ...appFunctions().timer].map((f) => f.name).sort(),
        `registered from ${loaded.entries.join(', ')}`,
      );
      const described: string[] = [];
      for (const spec of appFunctions().http) {
        const trigger = registered.get(spec.name)!.find((b) => b.type === 'httpTrigger')!;
        assert.deepEqual(
          { route: trigger.route, methods: trigger.methods, authLevel: trigger.authLevel },
          { route: spec.route, methods: [spec.method], authLevel: spec.authLevel },
          spec.name,
        );
        described.push(`${spec.name} (httpTrigger ${spec.method} /api/${spec.route}, ${spec.authLevel})`);
      }
      for (const spec of appFunctions().queue) {
        const trigger = registered.get(spec.name)!.find((b) => b.type === 'queueTrigger')!;
        assert.deepEqual(
          { queueName: trigger.queueName, connection: trigger.connection },
          { queueName: spec.queueName, connection: spec.connection },
          spec.name,
        );
        described.push(`${spec.name} (queueTrigger ${spec.queueName} on ${spec.connection})`);
      }
      for (const spec of appFunctions().timer) {
        const trigger = registered.get(spec.name)!.find((b) => b.type === 'timerTrigger')!;
        assert.deepEqual({ schedule: trigger.schedule }, { schedule: spec.schedule }, spec.name);
        described.push(`${spec.name} (timerTrigger ${spec.schedule})`);
      }
      assert.ok(
        loaded.seen.some((r) => r.kind === 'hook' && r.name === 'appStart'),
        'the configuration check at start is registered',
      );
      assert.ok(
        loaded.logged.some((line) => line.startsWith('Mail sender ready: auth managedIdentity')),
        `the runtime did not start from the package:\n${loaded.logged.join('\n')}\n${load.stderr}`,
      );
      assert.ok(loaded.chunks.length > 0);

      const bytes = [...result.beforeZip.values()].reduce((sum, content) => sum + content.length, 0);
      const mb = (n: number) => `${(n / 1048576).toFixed(2)} MB`;
      console.log(
        [
          `azd package, in azd's order (${result.steps.map((s) => s.step).join(' -> ')}):`,
          `  restore: ${lastLine(result.steps.find((s) => s.step === 'restore')!.output)}; prepackage hook: ${lastLine(result.steps.find((s) => s.step === 'prepackage hook')!.output)}`,
          `  ${service.dist} after the prepackage hook: ${result.afterPrepackage.size} files; after npm run build: ${result.beforeZip.size} files, identical`,
          `  zip: ${files.length} files, ${mb(result.zip.length)} (${mb(bytes)} unpacked); stray files in the project, none shipped: ${Object.keys(STRAY_FILES).join(', ')}`,
          `  registered from the unpacked zip alone (${loaded.entries.length} entries, ${loaded.chunks.length} chunks imported, nothing from outside):`,
          ...described.map((line) => `    ${line}`),
        ].join('\n'),
      );
    }),
);

test(
  'the bundle holds production dependencies only, each with its licence, and leaves out no production package',
  { timeout: 180_000 },
  async () => {
    const { stagePackage } = await stageModule();
    await withTempDir('mail-package-', async (dir) => {
      const out = join(dir, 'package');
      const { bundle } = await stagePackage({ out, typeCheck: false });
      // Only production dependencies are bundled, each with its licence text. The bundle imports nothing outside itself
      // but Node's built-ins, the worker's core API, and what a production install would not have either (packages that
      // optional requires try: development-only or not installed at all).
      const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages as Record<string, { dev?: boolean }>;
      const production = (path: string) => lock[path] !== undefined && lock[path].dev !== true;
      assert.deepEqual(
        bundle.packages.filter((p) => !production(p.path)).map((p) => p.path),
        [],
        'development or unlocked packages in the bundle',
      );
      const notices = readFileSync(join(out, 'dist', 'src', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
      for (const p of bundle.packages) assert.ok(notices.includes(`${p.name}@${p.version}`), `no licence entry for ${p.name}@${p.version}`);
      const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
      const packageOf = (specifier: string) =>
        specifier
          .split('/')
          .slice(0, specifier.startsWith('@') ? 2 : 1)
          .join('/');
      const externals = [...new Set(bundle.outputs.flatMap((o) => o.externals))].filter(
        (e) => !builtins.has(e) && e !== '@azure/functions-core',
      );
      assert.deepEqual(
        externals.filter((e) => production(`node_modules/${packageOf(e)}`)),
        [],
        'production packages left out of the bundle',
      );
    });
  },
);

test('the staging takes project files by allow-list: host.json and template files, no other file, no symlink', async () => {
  const { selectProjectFiles } = await stageModule();
  await withTempDir('mail-allow-list-', (dir) => {
    writeFileSync(join(dir, 'host.json'), '{}');
    for (const path of [
      'templates/generic/template.json',
      'templates/generic/html.liquid',
      'templates/generic/notes.txt',
      'templates/generic/.env',
    ]) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), 'x');
    }
    for (const path of ['stage.log', '.env', 'client.pem', 'local.settings.json', 'package-lock.json']) writeFileSync(join(dir, path), 'x');
    let linked = true;
    try {
      symlinkSync(join(dir, '.env'), join(dir, 'templates', 'generic', 'text.liquid'));
    } catch {
      linked = false; // Windows without the symlink privilege: the rest still holds
    }
    const { files, notShipped } = selectProjectFiles(dir);
    assert.deepEqual(files, ['host.json', 'templates/generic/html.liquid', 'templates/generic/template.json']);
    assert.deepEqual(
      notShipped,
      ['templates/generic/.env', 'templates/generic/notes.txt', ...(linked ? ['templates/generic/text.liquid'] : [])].sort(),
      'files of templates/ that are not template files are named, not shipped',
    );
  });
});

test('the staging stops before anything is built when host.json is missing', async () => {
  const { stagePackage } = await stageModule();
  await withTempDir('mail-no-host-', async (dir) => {
    const out = join(dir, 'package');
    await assert.rejects(stagePackage({ root: dir, out, typeCheck: false }), /host\.json is missing/);
    assert.ok(!existsSync(out), 'nothing staged');
  });
});

test(
  '.funcignore, read by git, keeps what the package needs and drops sources, secrets and the staged folder for func azure functionapp publish',
  { timeout: 60_000 },
  async (t) => {
    const git = spawnSync('git', ['--version'], { encoding: 'utf8' });
    const noGit = skipUnlessFound(
      git.status === 0 ? { path: 'git' } : { missing: 'git is not installed: install git' },
      '.funcignore check',
    );
    if (noGit) {
      t.skip(noGit);
      return;
    }
    assert.equal(git.status, 0, 'git is not installed: install git to check .funcignore');
    const { selectProjectFiles } = await stageModule();
    await withTempDir('mail-funcignore-', (dir) => {
      // An empty repository whose only ignore file is .funcignore: git decides on the paths alone (--no-index).
      assert.equal(spawnSync('git', ['init', '-q', dir]).status, 0);
      writeFileSync(join(dir, '.gitignore'), readFileSync(FUNCIGNORE));
      const ignored = (paths: string[]) => {
        const check = spawnSync('git', ['-C', dir, 'check-ignore', '--no-index', '--stdin'], {
          input: paths.join('\n'),
          encoding: 'utf8',
          timeout: 30_000,
        });
        assert.ok(check.status === 0 || check.status === 1, `git check-ignore failed: ${check.stderr}`);
        return new Set(check.stdout.split('\n').filter(Boolean));
      };
      // Kept: what the package takes from the project, the compiled functions (an unanchored "src" would drop
      // dist/src), and node_modules, which azd requires a .funcignore not to exclude when remoteBuild is false.
      const kept = [
        ...selectProjectFiles().files,
        'dist/src/functions/send-mail.js',
        'dist/src/chunk-ABC123.js',
        'package.json',
        'node_modules/zod/package.json',
      ];
      assert.deepEqual([...ignored(kept)], [], 'needed paths that .funcignore drops');
      const dropped = [
        ...Object.keys(STRAY_FILES).filter((path) => !path.startsWith('templates/')),
        '.env.production',
        'certs/app.pfx',
        'src/config/load-config.ts',
        'sandbox/main.ts',
        'test/config.test.ts',
        'infra/main.bicep',
        'dist/test/config.test.js',
        'dist/sandbox/main.js',
        'dist/generators/connector.js',
        '.deploy/host.json',
        '.azure/mail-prod/.env',
        'local.settings.example.json',
      ];
      const byGit = ignored(dropped);
      assert.deepEqual(
        dropped.filter((path) => !byGit.has(path)),
        [],
        'paths that func azure functionapp publish from the project folder would ship',
      );
    });
  },
);
