// The deployment package as azd builds it (azure.yaml: remoteBuild false, the prepackage hook
// infra/scripts/stage-package.mjs): the files .funcignore lets through, production dependencies only, and every
// function registering from that folder alone, in a process that can reach nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const STAGE_SCRIPT = join(ROOT, 'infra', 'scripts', 'stage-package.mjs');
const FUNCIGNORE = join(ROOT, '.funcignore');

const EXPECTED_HTTP = ['getMailStatus', 'openApi', 'sendMail'];
const EXPECTED_QUEUE = ['processOutbox'];
/** Project paths that must never ship: sources, tests, tools, infrastructure, local secrets. */
const MUST_NOT_SHIP = [
  'src', 'test', 'bench', 'scripts', 'infra', 'local.settings.json', 'local.settings.example.json', 'tsconfig.json',
  'azure.yaml', '.funcignore', 'README.md', 'dist/test', 'dist/bench', 'dist/src/local', 'dist/package',
];

interface StageModule {
  parseIgnore(text: string): unknown[];
  isIgnored(rules: unknown[], path: string, isDir?: boolean): boolean;
  selectFiles(root?: string, options?: { ignoreFile?: string; out?: string }): string[];
}

// The same module the hook runs; an .mjs, so imported, not required.
const stageModule = (): Promise<StageModule> => import(pathToFileURL(STAGE_SCRIPT).href);

function withTempDir<T>(prefix: string, body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every file under dir, slash-separated and relative to it. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)).split(sep).join('/'));
}

/** What the package must hold so the host finds every function: the main glob's files. */
function assertFunctionsShipped(files: string[]): void {
  const main = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).main as string;
  const [dir, pattern] = [main.slice(0, main.lastIndexOf('/')), main.slice(main.lastIndexOf('/') + 1)];
  const matcher = new RegExp(`^${dir.replace(/[.]/g, '\\.')}/${pattern.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
  const entryFiles = files.filter((f) => matcher.test(f));
  for (const name of [...EXPECTED_HTTP, ...EXPECTED_QUEUE]) {
    assert.ok(entryFiles.includes(`${dir}/${name}.js`), `the package lacks ${dir}/${name}.js (package.json main is ${main}); is .funcignore dropping it?`);
  }
}

// Runs in a child process whose working directory is the package: resolves @azure/functions from the package's own
// node_modules, captures what the host would register (outside the host the library registers nothing), requires
// every file of the main glob, and reports every module it loaded.
const LOADER = `
const { createRequire } = require('node:module');
const { readdirSync, readFileSync } = require('node:fs');
const path = require('node:path');
const root = process.cwd();
const load = createRequire(path.join(root, 'package.json'));
const { app } = load('@azure/functions');
const seen = [];
app.http = (name, options) => seen.push({ kind: 'http', name, route: options.route, methods: options.methods, authLevel: options.authLevel });
app.storageQueue = (name, options) => seen.push({ kind: 'queue', name, queueName: options.queueName, connection: options.connection });
app.hook.appStart = () => seen.push({ kind: 'appStart' });
Object.defineProperty(app, 'setup', { value: (options) => seen.push({ kind: 'setup', options }) });
const main = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).main;
const dir = path.dirname(main);
const pattern = new RegExp('^' + path.basename(main).replace(/[.]/g, '\\\\.').replace(/\\*/g, '.*') + '$');
const files = readdirSync(path.join(root, dir)).filter((f) => pattern.test(f)).sort();
for (const file of files) load('./' + dir + '/' + file);
const loaded = Object.keys(require.cache).filter((f) => f !== __filename);
process.stdout.write(JSON.stringify({ files, seen, outside: loaded.filter((f) => !f.startsWith(root + path.sep)) }));
`;

test('the package azd deploys holds what runs and nothing else, and every function registers from it alone', { timeout: 300_000 }, () => {
  withTempDir('mail-package-', (dir) => {
    const pkg = join(dir, 'package');
    // As the prepackage hook does, less the build (npm test has just built) and from the npm cache only.
    const stage = spawnSync(process.execPath, [STAGE_SCRIPT, '--out', pkg, '--no-build', '--offline'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    assert.equal(stage.status, 0, `stage-package failed (${stage.signal ?? stage.status}):\n${stage.stdout}\n${stage.stderr}`);

    const files = listFiles(pkg);
    const projectFiles = files.filter((f) => !f.startsWith('node_modules/'));
    assertFunctionsShipped(projectFiles);
    for (const required of ['host.json', 'package.json', 'package-lock.json']) assert.ok(projectFiles.includes(required), `${required} missing`);
    for (const path of MUST_NOT_SHIP) {
      assert.ok(!projectFiles.some((f) => f === path || f.startsWith(`${path}/`)), `${path} must not ship, but the package has it`);
    }
    assert.deepEqual(projectFiles.filter((f) => !f.startsWith('dist/src/') && !['host.json', 'package.json', 'package-lock.json'].includes(f)), [],
      'only dist/src, host.json, package.json and package-lock.json ship besides node_modules');

    // Production dependencies exactly: every lock entry marked dev is absent, every other (non-optional) one present.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    const entries = Object.entries(lock.packages as Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>)
      .filter(([path]) => path.startsWith('node_modules/'));
    const devShipped = entries.filter(([path, info]) => info.dev && existsSync(join(pkg, path))).map(([path]) => path);
    assert.deepEqual(devShipped, [], 'development dependencies in the package');
    const prodMissing = entries.filter(([path, info]) => !info.dev && !info.optional && !info.devOptional && !existsSync(join(pkg, path))).map(([path]) => path);
    assert.deepEqual(prodMissing, [], 'production dependencies missing from the package');

    // Load every function from the package alone: no NODE_PATH, no parent node_modules (the temp dir has none).
    const env = { ...process.env };
    delete env.NODE_PATH;
    delete env.NODE_OPTIONS;
    const loaderPath = join(dir, 'load-functions.cjs');
    writeFileSync(loaderPath, LOADER);
    const load = spawnSync(process.execPath, [loaderPath], { cwd: pkg, encoding: 'utf8', timeout: 60_000, env });
    assert.equal(load.status, 0, `loading the functions from the package failed:\n${load.stderr}`);
    const result = JSON.parse(load.stdout) as {
      files: string[];
      seen: { kind: string; name?: string; queueName?: string; connection?: string }[];
      outside: string[];
    };
    assert.deepEqual(result.outside, [], 'modules loaded from outside the package');
    const names = (kind: string) => result.seen.filter((r) => r.kind === kind).map((r) => r.name).sort();
    assert.deepEqual(names('http'), EXPECTED_HTTP, `HTTP functions registered from ${result.files.join(', ')}`);
    assert.deepEqual(names('queue'), EXPECTED_QUEUE);
    const queue = result.seen.find((r) => r.kind === 'queue')!;
    assert.equal(queue.queueName, '%MAIL_QUEUE_NAME%');
    assert.equal(queue.connection, 'MailStorage');
    assert.ok(result.seen.some((r) => r.kind === 'appStart'), 'the configuration check at start is registered');

    // What the deployment moves: the folder, and roughly the zip azd makes of it (deflate per file).
    let bytes = 0;
    let compressed = 0;
    for (const file of files) {
      const content = readFileSync(join(pkg, file));
      bytes += content.length;
      compressed += deflateRawSync(content).length;
    }
    const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
    const modules = new Set(files.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/').slice(0, f.split('/')[1]!.startsWith('@') ? 3 : 2).join('/')));
    console.log(`deployment package: ${files.length} files (${projectFiles.length} of the app, ${modules.size} top-level packages), ${mb(bytes)}, about ${mb(compressed)} zipped; functions ${[...names('http'), ...names('queue')].join(', ')}`);
    assert.ok(statSync(join(pkg, 'host.json')).size > 0);
  });
});

test('the staging script reads .funcignore as git does, for every file of the project', { timeout: 60_000 }, async (t) => {
  const git = spawnSync('git', ['--version'], { encoding: 'utf8' });
  if (git.status !== 0) {
    t.skip('git is not installed');
    return;
  }
  const { parseIgnore, isIgnored } = await stageModule();
  const rules = parseIgnore(readFileSync(FUNCIGNORE, 'utf8'));
  const paths = listFiles(ROOT).filter((f) => !/^(node_modules|\.git|dist\/package)\//.test(f) && !f.includes('/node_modules/'));
  assert.ok(paths.some((p) => p.startsWith('dist/src/functions/')), 'npm run build has not run');
  withTempDir('mail-funcignore-', (dir) => {
    // An empty repository whose only ignore file is .funcignore: git decides on the paths alone (--no-index).
    assert.equal(spawnSync('git', ['init', '-q', dir]).status, 0);
    writeFileSync(join(dir, '.gitignore'), readFileSync(FUNCIGNORE));
    const check = spawnSync('git', ['-C', dir, 'check-ignore', '--no-index', '--stdin'], { input: paths.join('\n'), encoding: 'utf8', timeout: 30_000 });
    assert.ok(check.status === 0 || check.status === 1, `git check-ignore failed: ${check.stderr}`);
    const byGit = new Set(check.stdout.split('\n').filter(Boolean));
    const disagree = paths.filter((p) => byGit.has(p) !== isIgnored(rules, p));
    assert.deepEqual(disagree, [], 'paths on which the staging script and git disagree');
  });
});

test('an unanchored pattern that drops dist/src/functions fails the package check', { timeout: 60_000 }, async () => {
  const { selectFiles } = await stageModule();
  withTempDir('mail-funcignore-', (dir) => {
    // The mistake this guards against: "src" without a leading slash matches dist/src too.
    const broken = join(dir, '.funcignore');
    writeFileSync(broken, readFileSync(FUNCIGNORE, 'utf8').replace(/^\/src$/m, 'src'));
    assert.notEqual(readFileSync(broken, 'utf8'), readFileSync(FUNCIGNORE, 'utf8'), '.funcignore has no "/src" line to break');
    const files = selectFiles(ROOT, { ignoreFile: broken, out: join(dir, 'package') });
    assert.throws(() => assertFunctionsShipped(files), /lacks dist\/src\/functions\//);
    assertFunctionsShipped(selectFiles(ROOT));
  });
});
