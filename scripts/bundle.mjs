#!/usr/bin/env node
// Bundles the Function App for the deployment package with esbuild, so that a cold start reads a few files instead of
// hundreds of modules from node_modules, and reads none of an SDK the configuration does not use.
//
// Layout (the same paths as tsc's output, so package.json "main" and the Functions host's indexing hold):
//   dist/src/functions/<name>.js   one small entry per src/functions/<name>.ts: its registration and nothing else
//   dist/src/chunk-<hash>.js       code shared by the entries (one copy of @azure/functions, so app.setup applies to
//                                  every registration, and one runtime per process), and each SDK an `await import()`
//                                  reaches, in chunks of their own that load on first use
//   dist/src/THIRD-PARTY-NOTICES.txt   the licences of the bundled packages, which no longer ship as node_modules
// Chunks sit in dist/src itself so that code locating the app from __dirname (host.json, templates/) finds the same
// folder as in tsc's output.
//
// ES modules, because only they let esbuild split code into shared and lazily loaded chunks; the package's
// package.json says "type": "module", which is how the Functions Node.js worker decides to import() the entries.
// Every chunk gets a CommonJS `require` (createRequire), so bundled CommonJS code and @azure/functions reach Node
// built-ins and the worker's "@azure/functions-core" through Module.prototype.require, where the worker provides it.
//
// Usage: node scripts/bundle.mjs [--out DIR]   (DIR default dist/bundle; its dist/src is replaced)
import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Provided by the Functions Node.js worker at run time; never installed. */
const WORKER_PROVIDED = ['@azure/functions-core'];

// Unique names, and esbuild's define points the free __dirname/__filename of bundled code at them, so no bundled
// module's own top-level declaration of those names can clash with the banner.
const BANNER = [
  "import { createRequire as __bundleCreateRequire } from 'node:module';",
  "import { dirname as __bundlePathDirname } from 'node:path';",
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url';",
  'const require = __bundleCreateRequire(import.meta.url);',
  'const __bundleFilename = __bundleFileURLToPath(import.meta.url);',
  'const __bundleDirname = __bundlePathDirname(__bundleFilename);',
].join('\n');

const posix = (path) => path.split(sep).join('/');

/** The entry sources behind package.json "main" (dist/src/functions/*.js → src/functions/*.ts, as tsc maps them). */
export function entrySources(root, main) {
  const match = /^dist\/(.+)\/\*\.js$/.exec(main);
  if (!match) throw new Error(`package.json "main" is ${main}; expected dist/<folder>/*.js`);
  const folder = match[1];
  const names = readdirSync(join(root, folder))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -3))
    .sort();
  if (names.length === 0) throw new Error(`no entry sources in ${folder}/`);
  return { folder, entries: names.map((name) => ({ name, source: `${folder}/${name}.ts` })) };
}

/** The package a bundled input belongs to, as its package-lock path (node_modules/a/node_modules/b), or undefined for project code. */
function lockPathOf(input) {
  // From the first node_modules on: a symlinked node_modules makes esbuild report paths outside the project.
  const first = input.indexOf('node_modules/');
  if (first < 0) return undefined;
  const parts = input.slice(first).split('/');
  const last = parts.lastIndexOf('node_modules');
  const scoped = parts[last + 1]?.startsWith('@');
  return parts.slice(0, last + (scoped ? 3 : 2)).join('/');
}

/**
 * Packages that only development installs have (every copy in package-lock.json is dev). Production code can still
 * reach one through an optional require (debug tries supports-color); left out of the bundle, such a require fails
 * as it did when npm ci --omit=dev built the package.
 */
export function developmentOnly(lock) {
  const dev = new Set();
  const prod = new Set();
  for (const [path, info] of Object.entries(lock)) {
    const name = lockNameOf(path);
    if (name) (info.dev ? dev : prod).add(name);
  }
  return [...dev].filter((name) => !prod.has(name)).sort();
}

const lockNameOf = (path) =>
  path.includes('node_modules/') ? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length) : undefined;

/** Bundled packages with their bytes of input; fails on any development dependency (it would ship unnoticed). */
function bundledPackages(lock, metafile) {
  const packages = new Map();
  for (const [input, info] of Object.entries(metafile.inputs)) {
    const path = lockPathOf(input);
    if (!path) continue;
    const entry = packages.get(path) ?? { path, bytes: 0 };
    entry.bytes += info.bytes;
    packages.set(path, entry);
  }
  const result = [];
  for (const { path, bytes } of packages.values()) {
    const locked = lock[path];
    if (!locked) throw new Error(`the bundle holds ${path}, which package-lock.json does not list`);
    if (locked.dev) throw new Error(`the bundle holds ${path}, a development dependency: production code imports it`);
    const name = lockNameOf(path);
    result.push({ name, version: locked.version, license: locked.license, path, bytes });
  }
  return result.sort((a, b) => a.name.localeCompare(b.name) || a.path.localeCompare(b.path));
}

/** The licence texts of the bundled packages, which MIT and the like require to travel with the code. */
function noticesText(root, packages) {
  const parts = ['Third-party software bundled into this package (scripts/bundle.mjs), with its licences.\n'];
  const seen = new Set();
  for (const pkg of packages) {
    const key = `${pkg.name}@${pkg.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const dir = join(root, pkg.path);
    const files = existsSync(dir)
      ? readdirSync(dir, { withFileTypes: true }).filter((f) => f.isFile() && /^(licen[cs]e|copying|notice)/i.test(f.name))
      : [];
    const texts = files.map((f) => readFileSync(join(dir, f.name), 'utf8').trim());
    parts.push(
      `${'='.repeat(79)}\n${key} (${pkg.license ?? 'see package'})\n${'='.repeat(79)}\n${texts.join('\n\n') || `No licence file in the package; its licence: ${pkg.license ?? 'unknown'}.`}\n`,
    );
  }
  return parts.join('\n');
}

/**
 * Bundles every entry of package.json "main" into out/dist/…, replacing what was there. Returns the outputs, the
 * bundled packages and esbuild's metafile.
 */
export async function bundleApp({ root = ROOT, out = join(ROOT, 'dist', 'bundle') } = {}) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const { folder, entries } = entrySources(root, pkg.main);
  const node = /(\d+)/.exec(pkg.engines?.node ?? '')?.[1] ?? '20';
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages ?? {};
  const leftOut = developmentOnly(lock);
  const srcOut = join(out, 'dist', 'src');
  rmSync(srcOut, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: entries.map(({ name, source }) => ({ in: source, out: `${relative('src', folder)}/${name}` })),
    outdir: srcOut,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${node}`,
    external: [...WORKER_PROVIDED, ...leftOut],
    banner: { js: BANNER },
    define: { __dirname: '__bundleDirname', __filename: '__bundleFilename' },
    // Readable stack traces in the host's logs without source maps: names and lines stay as written.
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
  });
  for (const warning of result.warnings)
    console.warn(`bundle: ${warning.text}${warning.location ? ` (${warning.location.file}:${warning.location.line})` : ''}`);

  // Code that finds the app from __dirname must sit where tsc puts it relative to the package root.
  for (const [output, info] of Object.entries(result.metafile.outputs)) {
    const usesDirname = Object.keys(info.inputs).filter(
      (input) => input.startsWith('src/') && /\b__dirname\b/.test(readFileSync(join(root, input), 'utf8')),
    );
    const at = posix(relative(root, dirname(resolve(root, output))));
    const expected = posix(relative(root, srcOut));
    if (usesDirname.length > 0 && at !== expected) {
      throw new Error(`${usesDirname.join(', ')} use __dirname but were bundled into ${output}, outside ${expected}`);
    }
  }

  const packages = bundledPackages(lock, result.metafile);
  writeFileSync(join(srcOut, 'THIRD-PARTY-NOTICES.txt'), noticesText(root, packages));
  const outputs = Object.entries(result.metafile.outputs).map(([path, info]) => ({
    path: posix(relative(out, resolve(root, path))),
    bytes: info.bytes,
    externals: [...new Set(info.imports.filter((i) => i.external).map((i) => i.path))].sort(),
  }));
  return { entries, outputs, packages, leftOut, metafile: result.metafile };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  let out = join(ROOT, 'dist', 'bundle');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') out = resolve(args[++i]);
    else {
      console.error(`bundle: unknown argument ${args[i]}`);
      process.exit(2);
    }
  }
  try {
    mkdirSync(out, { recursive: true });
    const { outputs, packages } = await bundleApp({ out });
    const kb = outputs.reduce((sum, o) => sum + o.bytes, 0) / 1024;
    console.log(
      `bundle: ${relative(process.cwd(), out) || '.'}: ${outputs.length} files, ${kb.toFixed(0)} KB, ${packages.length} packages bundled`,
    );
  } catch (error) {
    console.error(`bundle: ${error.message}`);
    process.exit(1);
  }
}
