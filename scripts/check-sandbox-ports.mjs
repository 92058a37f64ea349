// Runs first in `npm start` (package.json "prestart"), before anything is built or written: the sandbox's ports must
// be free. When one is taken (most often by a sandbox already running) it stops with the port, the setting that moves
// it and the process that holds it, so the running sandbox and its dist/ are left as they are.
// The ports are the ones sandbox/main.ts listens on, read from the same settings with the same defaults:
// SANDBOX_PORT (7071) for the sandbox's address, SANDBOX_AZURITE_PORT (10000) and the two after it for Azurite's blob,
// queue and table services, which run unless real SMTP settings bring their own storage account.
//
//   node scripts/check-sandbox-ports.mjs        exit 0 when every port is free, 1 (and why) when not, 2 on a bad setting
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Where the sandbox listens (sandbox/sandbox-front.ts, sandbox/azurite.ts).
const HOST = '127.0.0.1';

/** A setting that names a port is not one. */
export class PortSettingError extends Error {}

/** The settings as the sandbox reads them: local.settings.json's Values under the environment. */
function userSettings(env) {
  const file = join(ROOT, 'local.settings.json');
  let values = {};
  try {
    if (existsSync(file)) values = JSON.parse(readFileSync(file, 'utf8')).Values ?? {};
  } catch {
    // The sandbox itself reports a broken local.settings.json.
  }
  return { ...values, ...env };
}

function portSetting(env, name, fallback, last) {
  const text = env[name] ?? String(fallback);
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || port > last) throw new PortSettingError(`${name} is "${text}": give a port number from 0 to ${last}.`);
  return port;
}

/** The fixed ports the sandbox will listen on with these settings (0, any free port, needs no check). */
export function sandboxPorts(env = process.env) {
  const user = userSettings(env);
  const ports = [{ port: portSetting(env, 'SANDBOX_PORT', 7071, 65535), setting: 'SANDBOX_PORT', use: "the sandbox's address" }];
  // Azurite runs with the local stack (no MAIL_SMTP_HOST) and whenever the storage is the development one.
  const storage = user.MailStorage;
  if (!user.MAIL_SMTP_HOST || !storage || storage === 'UseDevelopmentStorage=true') {
    const base = portSetting(env, 'SANDBOX_AZURITE_PORT', 10000, 65533);
    if (base !== 0)
      ['blob', 'queue', 'table'].forEach((service, i) =>
        ports.push({ port: base + i, setting: 'SANDBOX_AZURITE_PORT', use: `Azurite's ${service} service` }),
      );
  }
  return ports.filter((p) => p.port !== 0);
}

/** Whether something holds the port on the sandbox's loopback address now (binding it, as the sandbox will, fails). */
export function portTaken(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error) => resolve(error.code === 'EADDRINUSE' || error.code === 'EACCES'));
    server.listen(port, HOST, () => server.close(() => resolve(false)));
  });
}

/**
 * The process listening on the port, as { pid, args }, when this user may see it: /proc on Linux, lsof elsewhere;
 * undefined when neither tells.
 */
export function portHolder(port) {
  try {
    if (existsSync('/proc/net/tcp')) return procHolder(port);
    const out = execFileSync('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-Fp'], { encoding: 'utf8', timeout: 5000 });
    const pid = Number(/^p(\d+)/m.exec(out)?.[1]);
    if (!pid) return undefined;
    const args = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8', timeout: 5000 })
      .trim()
      .split(' ');
    return { pid, args };
  } catch {
    return undefined;
  }
}

function procHolder(port) {
  // Listening sockets (state 0A) on the port, by inode; then the process with a descriptor on one of them.
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[3] === '0A' && parseInt(fields[1].split(':')[1], 16) === port) inodes.add(`socket:[${fields[9]}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    let fds;
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let target;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (inodes.has(target)) {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        return { pid: Number(pid), args };
      }
    }
  }
  return undefined;
}

/**
 * A process named by its program and the scripts it runs, not its whole command line: arguments can carry secrets.
 * `node …/dist/sandbox/main.js`
 */
export function describeProcess({ pid, args }) {
  const scripts = args.slice(1).filter((arg) => /\.(c|m)?js$/.test(arg) && !arg.startsWith('-'));
  const short = (path) => path.split(/[\\/]/).slice(-4).join('/');
  return `process ${pid} (${[basename(args[0] ?? '?'), ...scripts.map(short)].join(' ')})`;
}

/** Every port of the sandbox that is taken, each with what holds it when that can be found. */
export async function takenPorts(env = process.env) {
  const taken = [];
  for (const entry of sandboxPorts(env)) if (await portTaken(entry.port)) taken.push({ ...entry, holder: portHolder(entry.port) });
  return taken;
}

/** The refusal, one line per taken port, then what to do; `command` is what the user ran. */
export function refusal(taken, command = 'npm start') {
  const lines = taken.map(
    ({ port, setting, use, holder }) =>
      `  port ${port} (${use}, ${setting}) is in use by ${holder ? describeProcess(holder) : 'another process (which one is not visible to this user)'}`,
  );
  const sandbox = taken.some(({ holder }) => holder?.args.some((arg) => /sandbox\.js$|azurite\.js$/.test(arg)));
  return [
    `${command}: the sandbox cannot start, its ports are taken; nothing was built or changed.`,
    ...lines,
    sandbox
      ? 'A sandbox is already running: use it, or stop it (Ctrl+C in its terminal) and start again.'
      : 'Stop what holds them, or choose other ports.',
    `Other ports: SANDBOX_PORT=7072 SANDBOX_AZURITE_PORT=10010 ${command}`,
  ].join('\n');
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  try {
    const taken = await takenPorts();
    if (taken.length > 0) {
      console.error(refusal(taken));
      process.exit(1);
    }
  } catch (error) {
    if (!(error instanceof PortSettingError)) throw error;
    console.error(`npm start: ${error.message}`);
    process.exit(2);
  }
}
