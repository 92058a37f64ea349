// azd's packaging of a Node.js Function App service, step by step in azd's order, for the deployment package test.
// From azure-dev cli/azd/pkg/project: service_manager.go (Package: restore first when the framework requires it,
// then the "package" event: prepackage hooks, the framework's Package, the service target's Package, postpackage
// hooks), framework_service_node.go (Restore: `npm install --no-audit --no-fund --prefer-offline` unless
// node_modules/.package-lock.json is newer than package-lock.json; Package: `npm run build --if-present`, then the
// service's `dist` folder, which must not be empty), service_target_functionapp.go and project_utils.go
// (createDeployableZip: a zip of that folder less `.azure` folders, `.funcignore` and `local.settings.json`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';

type Yaml = string | { [key: string]: Yaml };

/**
 * The subset of YAML azure.yaml uses: nested mappings by indentation, plain or quoted scalars, comments. Anything
 * else (lists, anchors, multi-line scalars) throws, so a change to azure.yaml that this reader would misread fails
 * the test instead of being skipped.
 */
export function parseAzureYaml(text: string): { [key: string]: Yaml } {
  const root: { [key: string]: Yaml } = {};
  const stack: { indent: number; map: { [key: string]: Yaml } }[] = [{ indent: -1, map: root }];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '').replace(/\s+$/, '');
    if (!line.trim()) return;
    const indent = line.length - line.trimStart().length;
    const match = /^([A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(line.trim());
    if (!match || /^[[{&*|>-]/.test(match[2] ?? '')) throw new Error(`azure.yaml line ${index + 1}: not understood: ${raw}`);
    while (indent <= stack[stack.length - 1].indent) stack.pop();
    const parent = stack[stack.length - 1].map;
    const value = match[2];
    if (value === undefined) {
      const map: { [key: string]: Yaml } = {};
      parent[match[1]] = map;
      stack.push({ indent, map });
    } else {
      parent[match[1]] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
    }
  });
  return root;
}

export interface Hook {
  shell: string;
  run: string;
}

export interface AzdService {
  name: string;
  project: string;
  language: string;
  host: string;
  dist: string;
  remoteBuild: string | undefined;
  hooks: Record<string, Hook>;
}

/** The Node.js service of azure.yaml, and the project-level hooks, as azd reads them for this platform. */
export function readAzureYaml(projectDir: string): { services: AzdService[]; hooks: Record<string, Hook> } {
  const yaml = parseAzureYaml(readFileSync(join(projectDir, 'azure.yaml'), 'utf8'));
  const platform = process.platform === 'win32' ? 'windows' : 'posix';
  const hooksOf = (node: Yaml | undefined): Record<string, Hook> => {
    const hooks: Record<string, Hook> = {};
    if (node === undefined || typeof node === 'string') return hooks;
    for (const [event, config] of Object.entries(node)) {
      if (typeof config === 'string') throw new Error(`hook ${event}: expected a mapping`);
      const chosen = config[platform] ?? config;
      if (typeof chosen === 'string' || typeof chosen.run !== 'string') throw new Error(`hook ${event}: no run for ${platform}`);
      hooks[event] = { shell: typeof chosen.shell === 'string' ? chosen.shell : 'sh', run: chosen.run };
    }
    return hooks;
  };
  const services = yaml.services;
  if (services === undefined || typeof services === 'string') throw new Error('azure.yaml has no services');
  return {
    services: Object.entries(services).map(([name, config]) => {
      if (typeof config === 'string') throw new Error(`service ${name}: expected a mapping`);
      const text = (key: string) => (typeof config[key] === 'string' ? config[key] : undefined);
      return {
        name,
        project: text('project') ?? '.',
        language: text('language') ?? '',
        host: text('host') ?? '',
        dist: text('dist') ?? '',
        remoteBuild: text('remoteBuild'),
        hooks: hooksOf(config.hooks),
      };
    }),
    hooks: hooksOf(yaml.hooks),
  };
}

/** Runs a command the way azd does for a hook or a tool: in cwd, output kept, failing loudly. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout: number): string {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout, shell: false });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}\n${output}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.signal ?? result.status}):\n${output}`);
  return output;
}

function runHook(hook: Hook | undefined, cwd: string, env: NodeJS.ProcessEnv): string {
  if (!hook) return '';
  // azd runs an inline script with the hook's shell; sh and pwsh take it as a command string.
  if (hook.shell === 'pwsh') return run('pwsh', ['-NoProfile', '-NonInteractive', '-Command', hook.run], cwd, env, 300_000);
  return run(hook.shell, ['-c', hook.run], cwd, env, 300_000);
}

/** azd's check before `npm install`: node_modules/.package-lock.json no older than package-lock.json. */
export function npmDependenciesUpToDate(projectDir: string): boolean {
  const lock = join(projectDir, 'package-lock.json');
  const marker = join(projectDir, 'node_modules', '.package-lock.json');
  if (!existsSync(lock) || !existsSync(marker)) return false;
  return statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
}

/** Every regular file under dir as a slash-separated path relative to it, with its content. */
export function readFolder(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path).split(sep).join('/'), readFileSync(path));
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The files azd's createDeployableZip takes from a folder that has no .funcignore of its own. */
function zipEntries(folder: string): Map<string, Buffer> {
  if (existsSync(join(folder, '.funcignore'))) throw new Error(`${folder}/.funcignore: this reader does not apply ignore files`);
  return new Map(
    [...readFolder(folder)].filter(([path]) => {
      const parts = path.split('/');
      const name = parts[parts.length - 1];
      return !parts.slice(0, -1).includes('.azure') && name !== '.funcignore' && name !== 'local.settings.json';
    }),
  );
}

/** A zip archive (deflate, as azd's rzip writes it) of the given files. */
export function writeZip(files: Map<string, Buffer>): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [path, content] of files) {
    const name = Buffer.from(path, 'utf8');
    const data = deflateRawSync(content);
    const crc = crc32(content);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(name.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(0x0800, 8);
    entry.writeUInt16LE(8, 10);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(content.length, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    central.push(entry, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.size, 8);
  end.writeUInt16LE(files.size, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** Unpacks a zip into dir as the platform does with a deployment package: every entry checked, none outside dir. */
export function extractZip(zip: Buffer, dir: string): string[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip: no end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`zip entry ${i}: bad central directory header`);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localAt = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const target = resolve(dir, name);
    if (!target.startsWith(resolve(dir) + sep)) throw new Error(`zip entry ${name} points outside the folder`);
    const dataAt = localAt + 30 + zip.readUInt16LE(localAt + 26) + zip.readUInt16LE(localAt + 28);
    const raw = zip.subarray(dataAt, dataAt + size);
    const content = method === 8 ? inflateRawSync(raw) : method === 0 ? raw : undefined;
    if (!content) throw new Error(`zip entry ${name}: compression method ${method}`);
    if (crc32(content) !== crc) throw new Error(`zip entry ${name}: CRC mismatch`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
    names.push(name);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

export interface AzdPackageResult {
  /** What each step printed, in azd's order. */
  steps: { step: string; output: string }[];
  /** The service's dist folder right after the prepackage hook, and right before azd zips it. */
  afterPrepackage: Map<string, Buffer>;
  beforeZip: Map<string, Buffer>;
  zip: Buffer;
}

/**
 * `azd package` for one Node.js Function App service, in azd's order: project prepackage hook; restore
 * (prerestore hook, `npm install` unless up to date, postrestore hook); the package event: prepackage hook,
 * `npm run build --if-present`, the dist folder (must exist and not be empty), its zip, postpackage hook; project
 * postpackage hook.
 */
export function azdPackage(
  projectDir: string,
  service: AzdService,
  projectHooks: Record<string, Hook>,
  env: NodeJS.ProcessEnv,
): AzdPackageResult {
  const servicePath = resolve(projectDir, service.project);
  const steps: AzdPackageResult['steps'] = [];
  const step = (name: string, body: () => string) => steps.push({ step: name, output: body() });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const npmRun = (args: string[]) => {
    // npm.cmd needs a shell on Windows; the arguments here are fixed words.
    const result = spawnSync(npm, args, { cwd: servicePath, env, encoding: 'utf8', timeout: 300_000, shell: process.platform === 'win32' });
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    if (result.status !== 0)
      throw new Error(`npm ${args.join(' ')} failed (${result.error?.message ?? result.signal ?? result.status}):\n${output}`);
    return output;
  };

  step('project prepackage hook', () => runHook(projectHooks.prepackage, projectDir, env));
  step('prerestore hook', () => runHook(service.hooks.prerestore, servicePath, env));
  step('restore', () =>
    npmDependenciesUpToDate(servicePath)
      ? 'npm dependencies already up-to-date'
      : npmRun(['install', '--no-audit', '--no-fund', '--prefer-offline']),
  );
  step('postrestore hook', () => runHook(service.hooks.postrestore, servicePath, env));
  step('prepackage hook', () => runHook(service.hooks.prepackage, servicePath, env));
  const packagePath = join(servicePath, service.dist);
  const afterPrepackage = existsSync(packagePath) ? readFolder(packagePath) : new Map<string, Buffer>();
  step('package: npm run build --if-present', () => npmRun(['run', 'build', '--if-present']));
  if (!existsSync(packagePath) || readdirSync(packagePath).length === 0) {
    throw new Error(`package source '${packagePath}' is empty or does not exist (azd stops here)`);
  }
  const beforeZip = readFolder(packagePath);
  const zip = writeZip(zipEntries(packagePath));
  step('package: zip', () => `${zip.length} bytes`);
  step('postpackage hook', () => runHook(service.hooks.postpackage, servicePath, env));
  step('project postpackage hook', () => runHook(projectHooks.postpackage, projectDir, env));
  return { steps, afterPrepackage, beforeZip, zip };
}
