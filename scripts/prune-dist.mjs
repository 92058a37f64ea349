// Runs before every `npm run build`. The build is incremental (tsconfig: incremental, its build info in dist/), so
// it no longer starts from an empty dist/, and tsc never deletes the output of a source that was deleted or renamed.
// Left there, such output would still run: a stale dist/test/*.test.js as a test, a stale dist/src/functions/*.js as
// a registered function. This removes every compiler output (.js, .mjs, .cjs, .d.ts and their .map) in the output
// folders that no source of the project produces any more, and the empty folders left behind.
// It also deletes the build info, so that the build compiles everything, when an output that a source does produce
// is missing (dist/ partly deleted by hand: tsc trusts its build info and would not emit that output again) or when
// npm installed dependencies after the last build (`tsc -b` compares only the project's own files with the build
// info, so changed type definitions in node_modules would not be checked).
// Files outside the compiler's own output folders (dist/bundle, written by scripts/bundle.mjs) are left alone.
//
//   node scripts/prune-dist.mjs [--project tsconfig.json]     prints what it removed
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const COMPILER_OUTPUT = /\.(js|mjs|cjs|d\.ts|d\.mts|d\.cts)(\.map)?$/;

/**
 * Removes stale compiler output of the project whose tsconfig is `project`. Returns the removed files (relative to
 * the project folder) and why the build info was deleted, if it was.
 */
export function pruneDist(project = join(ROOT, 'tsconfig.json')) {
  const ts = createRequire(project)('typescript');
  const folder = dirname(project);
  const read = ts.readConfigFile(project, ts.sys.readFile);
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const config = ts.parseJsonConfigFileContent(read.config, ts.sys, folder, undefined, project);
  if (config.errors.length > 0) throw new Error(config.errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, '\n')).join('\n'));
  const { outDir, tsBuildInfoFile } = config.options;
  if (!outDir) throw new Error(`${project} sets no outDir: nothing to prune`);

  const outputs = new Map(
    config.fileNames.map((file) => [file, ts.getOutputFileNames(config, file, !ts.sys.useCaseSensitiveFileNames).map((f) => resolve(f))]),
  );
  const expected = new Set([...outputs.values()].flat());
  // The compiler's own folders: where the folders tsconfig includes (src, sandbox, generators, test, bench) compile to, even when no
  // source is left in one of them.
  const rootDir = config.options.rootDir ?? folder;
  const folders = Object.keys(config.wildcardDirectories ?? {}).map((dir) => join(outDir, relative(rootDir, dir)));

  const removed = [];
  const prune = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        prune(path);
        if (readdirSync(path).length === 0) rmdirSync(path);
      } else if (COMPILER_OUTPUT.test(entry.name) && !expected.has(path)) {
        rmSync(path, { force: true });
        removed.push(relative(folder, path));
      }
    }
  };
  for (const dir of folders) if (existsSync(dir)) prune(dir);

  let resetBuildInfo;
  if (tsBuildInfoFile && existsSync(tsBuildInfoFile)) {
    const installed = join(folder, 'node_modules', '.package-lock.json');
    const built = statSync(tsBuildInfoFile).mtimeMs;
    // A source changed or added since the last build is compiled anyway; one older than that is not.
    const lost = [...outputs].some(([source, files]) => statSync(source).mtimeMs <= built && files.some((file) => !existsSync(file)));
    if (lost) resetBuildInfo = 'outputs were missing';
    else if (existsSync(installed) && statSync(installed).mtimeMs > built)
      resetBuildInfo = 'dependencies were installed since the last build';
    if (resetBuildInfo) rmSync(tsBuildInfoFile);
  }
  return { removed: removed.sort(), resetBuildInfo };
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--project');
  try {
    const { removed, resetBuildInfo } = pruneDist(at > 0 ? resolve(process.argv[at + 1]) : undefined);
    for (const file of removed) console.log(`removed ${file} (its source is gone)`);
    if (resetBuildInfo) console.log(`build info removed (${resetBuildInfo}): this build compiles everything`);
  } catch (error) {
    console.error(`prune-dist: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
