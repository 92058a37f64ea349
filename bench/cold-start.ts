// Cold start (npm run bench -- cold-start, or npm run bench:cold-start): what loading the functions costs a fresh
// Node.js process, against a baseline that imports every SDK eagerly, measured in the same run; and the deployment
// package's size before and after bundling.
//
// Each figure is the median of BENCH_COLD_N (default 9) fresh processes; the scenarios take turns within each round,
// so load on the machine affects them alike. Time is from the loader's first line to the last file loaded; memory is
// the process's RSS then.
//   empty          node itself: the floor under every row
//   baseline       require() every production dependency of package.json from node_modules, eagerly, but the
//                  OpenTelemetry stack, which the app loads only when Application Insights is configured (none of
//                  the rows below configures it)
//   + telemetry    the same with the OpenTelemetry stack: every production dependency
//   unbundled      every dist/src/functions/*.js of tsc's output, from the project (as `func start` loads it)
//   bundled        every dist/src/functions/*.js of the deployment package, as the Functions worker loads it
//   + appStart     the same, then the appStart hook (the settings read and checked)
//   + every chunk  the same, then every lazily loaded chunk: the most a process can load
// Sizes: the package as staged now (the bundle), and as it was staged before bundling (tsc's output, host.json,
// package*.json and the production node_modules), computed from the files that layout took; zipped = deflate per
// file plus zip headers.
//
// run.ts runs it after the local stack has stopped (it needs none); every load is a child process of its own, with
// the environment of the run less NODE_OPTIONS, NODE_PATH, NODE_EXTRA_CA_CERTS and the app's optional settings.
// Needs tsc's output (npm run build).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { envInt, median, type BenchResult, type Figure } from './report';

// Compiled to dist/bench/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const STAGE_SCRIPT = join(ROOT, 'infra', 'scripts', 'stage-package.mjs');

/** Settings the runtime accepts, with nothing reachable behind them: appStart only reads and checks them. */
const START_SETTINGS = {
  MailStorage: 'UseDevelopmentStorage=true',
  MAIL_AUTH_MODE: 'managedIdentity',
  MAIL_ALLOWED_SENDERS: 'noreply@contoso.example',
};

// The child process: the worker's "@azure/functions-core" through Module.prototype.require (as the Functions
// Node.js worker provides it), then the scenario's loads, then one line of JSON.
const LOADER = `
const start = process.hrtime.bigint();
const Module = require('node:module');
const path = require('node:path');
const { readdirSync, readFileSync } = require('node:fs');
const { pathToFileURL } = require('node:url');
const [mode, root] = process.argv.slice(2);
const hooks = [];
const core = {
  version: '3.0.0', hostVersion: '4.0.0', log: () => {}, getProgrammingModel: () => undefined, setProgrammingModel: () => {},
  registerFunction: () => ({ dispose() {} }),
  registerHook: (name, callback) => (hooks.push({ name, callback }), { dispose() {} }),
};
Module.prototype.require = new Proxy(Module.prototype.require, {
  apply: (target, self, args) => (args[0] === '@azure/functions-core' ? core : Reflect.apply(target, self, args)),
});
console.log = () => {};
(async () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const load = (file) => (pkg.type === 'module' ? import(pathToFileURL(file).href) : require(file));
  if (mode === 'empty') {
  } else if (mode.startsWith('baseline')) {
    const req = Module.createRequire(path.join(root, 'package.json'));
    const telemetry = /opentelemetry/;
    for (const name of Object.keys(pkg.dependencies).filter((n) => mode === 'baseline-all' || !telemetry.test(n))) {
      try { req(name); } catch (error) { if (error.code !== 'ERR_REQUIRE_ESM') throw error; await import(pathToFileURL(req.resolve(name)).href); }
    }
  } else {
    const dir = path.join(root, path.dirname(pkg.main));
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) await load(path.join(dir, file));
    if (mode !== 'entries') for (const hook of hooks.filter((h) => h.name === 'appStart')) await hook.callback({ hookData: {}, appHookData: {}, functionAppDirectory: root });
    if (mode === 'all') for (const file of readdirSync(path.join(root, 'dist/src')).filter((f) => f.endsWith('.js'))) await load(path.join(root, 'dist/src', file));
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(JSON.stringify({ ms, rss: process.memoryUsage().rss }));
  process.exit(0);
})().catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); });
`;

export interface LoadFigure {
  scenario: string;
  ms: number;
  rssBytes: number;
  /** Against the baseline of the same run. */
  timeRatio: number;
  memoryRatio: number;
}

export interface PackageSize {
  files: number;
  bytes: number;
  zipBytes: number;
}

export interface ColdStartFigures {
  runs: number;
  loads: LoadFigure[];
  size: { before: PackageSize; after: PackageSize };
}

const COLD_N = envInt('BENCH_COLD_N', 9);

/** Files, bytes and zipped bytes of a list of files (the same estimate as the staging script's). */
function sizeOf(files: { abs: string; name: string }[]): PackageSize {
  let bytes = 0;
  let zipBytes = 22;
  for (const { abs, name } of files) {
    const content = readFileSync(abs);
    bytes += content.length;
    zipBytes += 76 + 2 * Buffer.byteLength(name) + Math.min(content.length, deflateRawSync(content).length);
  }
  return { files: files.length, bytes, zipBytes };
}

function filesUnder(dir: string, base: string): { abs: string; name: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const abs = join(entry.parentPath ?? entry.path, entry.name);
      return { abs, name: relative(base, abs).split(sep).join('/') };
    });
}

/** The package as staged before bundling: tsc's dist/src, host.json, package*.json, production node_modules. */
function unbundledSize(): PackageSize {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages as Record<
    string,
    { dev?: boolean; optional?: boolean }
  >;
  const files = [
    ...filesUnder(join(ROOT, 'dist', 'src'), ROOT),
    ...['host.json', 'package.json', 'package-lock.json'].map((name) => ({ abs: join(ROOT, name), name })),
  ];
  for (const [path, info] of Object.entries(lock)) {
    if (!path.startsWith('node_modules/') || info.dev) continue;
    // Only the package's own files: nested node_modules are lock entries of their own.
    files.push(...filesUnder(join(ROOT, path), ROOT).filter((f) => !f.name.slice(path.length + 1).includes('node_modules/')));
  }
  return sizeOf(files);
}

function loadOnce(loader: string, mode: string, root: string): { ms: number; rss: number } {
  const env: NodeJS.ProcessEnv = { ...process.env, ...START_SETTINGS };
  // NODE_EXTRA_CA_CERTS: run.ts starts under scripts/with-local-ca.mjs; the loads were measured without a CA to read.
  for (const name of ['NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'MAIL_CALLERS', 'APPLICATIONINSIGHTS_CONNECTION_STRING'])
    delete env[name];
  const run = spawnSync(process.execPath, [loader, mode, root], { cwd: root, encoding: 'utf8', timeout: 120_000, env });
  if (run.status !== 0) throw new Error(`loading (${mode}) failed (${run.signal ?? run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as { ms: number; rss: number };
}

/** The deployment package as the prepackage hook stages it, in `dir`/package; its size as the staging script reports it. */
export function stageDeploymentPackage(dir: string): { pkg: string; size: PackageSize } {
  if (!existsSync(join(ROOT, 'dist', 'src', 'functions'))) throw new Error('dist/src/functions is missing: run "npm run build" first');
  const pkg = join(dir, 'package');
  const reportPath = join(dir, 'report.json');
  const stage = spawnSync(process.execPath, [STAGE_SCRIPT, '--out', pkg, '--no-type-check', '--report', reportPath], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (stage.status !== 0) throw new Error(`stage-package failed: ${stage.stdout}\n${stage.stderr}`);
  return { pkg, size: (JSON.parse(readFileSync(reportPath, 'utf8')) as { size: PackageSize }).size };
}

export function measureColdStart(runs = COLD_N): ColdStartFigures {
  const dir = mkdtempSync(join(tmpdir(), 'mail-cold-start-'));
  try {
    const { pkg, size: after } = stageDeploymentPackage(dir);
    const loader = join(dir, 'load.cjs');
    writeFileSync(loader, LOADER);

    const scenarios = [
      { scenario: 'baseline: every SDK imported eagerly', mode: 'baseline', root: ROOT },
      { scenario: 'baseline + the telemetry stack', mode: 'baseline-all', root: ROOT },
      { scenario: 'empty process (node itself)', mode: 'empty', root: ROOT },
      { scenario: 'unbundled: tsc output, as func start loads it', mode: 'entries', root: ROOT },
      { scenario: 'bundled: the deployment package', mode: 'entries', root: pkg },
      { scenario: 'bundled + appStart (settings checked)', mode: 'start', root: pkg },
      { scenario: 'bundled + every lazy chunk loaded', mode: 'all', root: pkg },
    ];
    const samples = scenarios.map(() => ({ ms: [] as number[], rss: [] as number[] }));
    // One warm-up round so the first scenario does not pay for a cold file cache alone.
    for (const s of scenarios) loadOnce(loader, s.mode, s.root);
    for (let round = 0; round < runs; round++) {
      scenarios.forEach((s, i) => {
        const { ms, rss } = loadOnce(loader, s.mode, s.root);
        samples[i].ms.push(ms);
        samples[i].rss.push(rss);
      });
    }
    const baseMs = median(samples[0].ms);
    const baseRss = median(samples[0].rss);
    const loads = scenarios.map((s, i) => {
      const ms = median(samples[i].ms);
      const rssBytes = median(samples[i].rss);
      return { scenario: s.scenario, ms, rssBytes, timeRatio: ms / baseMs, memoryRatio: rssBytes / baseRss };
    });
    return { runs, loads, size: { before: unbundledSize(), after } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The benchmark (run.ts): each loading against the eager baseline, time and RSS; the package before and after bundling. */
export function coldStart(): Promise<BenchResult> {
  const figures = measureColdStart();
  const [baseline, ...others] = figures.loads;
  const BASELINE = 'every SDK imported eagerly';
  const BEFORE = 'tsc output + production node_modules';
  const rows: Figure[] = others.flatMap((load): Figure[] => [
    {
      measurement: `cold start, time: ${load.scenario}`,
      unit: 'ms',
      baseline: { name: BASELINE, value: baseline.ms },
      product: { value: load.ms },
      better: 'lower',
    },
    {
      measurement: `cold start, RSS: ${load.scenario}`,
      unit: 'bytes',
      baseline: { name: BASELINE, value: baseline.rssBytes },
      product: { value: load.rssBytes },
      better: 'lower',
    },
  ]);
  const { before, after } = figures.size;
  rows.push(
    {
      measurement: 'deployment package (the bundle): files',
      unit: 'files',
      baseline: { name: BEFORE, value: before.files },
      product: { value: after.files },
      better: 'lower',
    },
    {
      measurement: 'deployment package (the bundle): unpacked',
      unit: 'bytes',
      baseline: { name: BEFORE, value: before.bytes },
      product: { value: after.bytes },
      better: 'lower',
    },
    {
      measurement: 'deployment package (the bundle): zipped',
      unit: 'bytes',
      baseline: { name: BEFORE, value: before.zipBytes },
      product: { value: after.zipBytes },
      better: 'lower',
    },
  );
  return Promise.resolve({
    rows,
    notes: [
      `cold start: median of ${figures.runs} fresh processes per loading, the loadings taking turns in each round; time from the`,
      `  loader's first line to the last file loaded, RSS then. Baseline: require() of every production dependency but the`,
      `  OpenTelemetry stack, eagerly. Package: as staged now (the bundle) vs as staged before bundling; zipped = deflate per file.`,
    ],
  });
}
