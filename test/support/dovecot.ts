// A real IMAP server for the delivery report reader's tests: Debian's Dovecot, run as a child process with its own
// configuration in a temporary folder (no system service, nothing outside that folder), on a free port, implicit
// TLS with the local CA's certificate, and XOAUTH2 only, each token checked by an introspection endpoint the test
// serves. Mail is put into its Maildir as files, as a delivery agent would.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { onPath, type Found } from './machine-tools';

export const DOVECOT_INSTALL = 'no Dovecot IMAP server: install dovecot-imapd ("apt-get install dovecot-imapd" on Debian and Ubuntu)';

/** Dovecot's master binary: on PATH, else where Debian puts it (/usr/sbin is not on every user's PATH). */
export function findDovecot(): Found {
  const path = onPath('dovecot') ?? ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].find((candidate) => existsSync(candidate));
  const imap = ['/usr/lib/dovecot/imap', '/usr/libexec/dovecot/imap', '/usr/local/libexec/dovecot/imap'].some((p) => existsSync(p));
  return path && imap ? { path } : { missing: DOVECOT_INSTALL };
}

export interface DovecotOptions {
  binary: string;
  port: number;
  tls: { certPem: string; keyPem: string };
  /** http://127.0.0.1:<port>/<path>: POSTed `token=<token>`, answers RFC 7662 JSON with `active` and `username`. */
  introspectionUrl: string;
  /** How long Dovecot may take to accept connections. */
  startTimeoutMs?: number;
}

export interface Dovecot {
  port: number;
  /** The Maildir of a user (their login name), made on first use. */
  maildir(user: string): string;
  /** Puts a message into a user's folder as a Maildir file without flags; returns its file name. */
  deliver(user: string, raw: string | Buffer, folder?: string): string;
  /** File names in a user's folder (`cur` and `new`); a name ending in `,S` or containing S after `:2,` is \Seen. */
  files(user: string, folder?: string): string[];
  log(): string;
  stop(): Promise<void>;
}

/** Starts Dovecot; on any failure the process and the folder are gone before the error is thrown. */
export async function startDovecot(options: DovecotOptions): Promise<Dovecot> {
  const dir = mkdtempSync(join(tmpdir(), 'dovecot-test-'));
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const users = accounts();
    const configFile = writeConfig(dir, options, users);
    child = spawn(options.binary, ['-F', '-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-8000)));
    const logFile = join(dir, 'dovecot.log');
    const readLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') + stderr;
    await waitForPort(
      options.port,
      options.startTimeoutMs ?? 30_000,
      () => child!.exitCode !== null || child!.signalCode !== null,
      readLog,
    );
    const mailRoot = join(dir, 'mail');
    // The mail process reads and moves what the test writes: it must own it.
    const owned = (path: string) => {
      if (users.mail.uid !== userInfo().uid) chownSync(path, users.mail.uid, users.mail.gid);
    };
    const folderDir = (user: string, folder: string) => join(mailRoot, user, folder === 'INBOX' ? '' : `.${folder}`);
    const dovecot: Dovecot = {
      port: options.port,
      maildir: (user) => {
        for (const path of [mailRoot, join(mailRoot, user), ...['cur', 'new', 'tmp'].map((sub) => join(mailRoot, user, sub))]) {
          mkdirSync(path, { recursive: true });
          owned(path);
        }
        return join(mailRoot, user);
      },
      deliver: (user, raw, folder = 'INBOX') => {
        dovecot.maildir(user);
        const name = `${Math.floor(Date.now() / 1000)}.${randomBytes(8).toString('hex')}.test:2,`;
        const file = join(folderDir(user, folder), 'cur', name);
        writeFileSync(file, raw);
        owned(file);
        return name;
      },
      files: (user, folder = 'INBOX') =>
        ['cur', 'new'].flatMap((sub) => {
          const path = join(folderDir(user, folder), sub);
          return existsSync(path) ? readdirSync(path) : [];
        }),
      log: readLog,
      stop,
    };
    return dovecot;
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** A system account by name, from /etc/passwd. */
function account(name: string): Account | undefined {
  const fields = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((entry) => entry[0] === name);
  return fields ? { name, uid: Number(fields[2]), gid: Number(fields[3]) } : undefined;
}

/**
 * Who Dovecot's processes run as. Started by a user, everything runs as that user. Started by root (CI, a container),
 * Dovecot refuses root for its login and mail processes: they run as the accounts Debian's package makes.
 */
function accounts(): { internal: Account; login: Account; mail: Account } {
  const { username, uid, gid } = userInfo();
  if (uid !== 0) {
    const self = { name: username, uid, gid };
    return { internal: self, login: self, mail: self };
  }
  const internal = account('dovecot');
  const login = account('dovenull');
  if (!internal || !login) throw new Error(`started as root without the dovecot and dovenull accounts: ${DOVECOT_INSTALL}`);
  return { internal, login, mail: internal };
}

function groupName(gid: number): string {
  return (
    readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((fields) => fields[2] === String(gid))?.[0] ?? String(gid)
  );
}

function writeConfig(dir: string, options: DovecotOptions, users: ReturnType<typeof accounts>): string {
  const { internal, login, mail } = users;
  chmodSync(dir, 0o755);
  for (const sub of ['run', 'state', 'mail']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'cert.pem'), options.tls.certPem);
  writeFileSync(join(dir, 'key.pem'), options.tls.keyPem, { mode: 0o600 });
  writeFileSync(
    join(dir, 'oauth2.conf.ext'),
    [
      `introspection_url = ${options.introspectionUrl}`,
      'introspection_mode = post',
      'force_introspection = yes',
      'username_attribute = username',
      'active_attribute = active',
      'active_value = true',
    ].join('\n') + '\n',
  );
  const config = [
    `base_dir = ${join(dir, 'run')}`,
    `state_dir = ${join(dir, 'state')}`,
    `instance_name = dovecot-test-${randomBytes(4).toString('hex')}`,
    `log_path = ${join(dir, 'dovecot.log')}`,
    'protocols = imap',
    'listen = 127.0.0.1',
    `default_internal_user = ${internal.name}`,
    `default_internal_group = ${groupName(internal.gid)}`,
    `default_login_user = ${login.name}`,
    `first_valid_uid = ${mail.uid}`,
    `last_valid_uid = ${mail.uid}`,
    `first_valid_gid = ${mail.gid}`,
    `last_valid_gid = ${mail.gid}`,
    'ssl = required',
    `ssl_cert = <${join(dir, 'cert.pem')}`,
    `ssl_key = <${join(dir, 'key.pem')}`,
    'ssl_min_protocol = TLSv1.2',
    'disable_plaintext_auth = yes',
    // XOAUTH2 alone, as Exchange Online offers it.
    'auth_mechanisms = xoauth2',
    'auth_cache_size = 0',
    `mail_location = maildir:${join(dir, 'mail')}/%u`,
    'mail_fsync = never',
    'passdb {',
    '  driver = oauth2',
    '  mechanisms = xoauth2',
    `  args = ${join(dir, 'oauth2.conf.ext')}`,
    '}',
    'userdb {',
    '  driver = static',
    `  args = uid=${mail.uid} gid=${mail.gid} home=${join(dir, 'mail')}/%u`,
    '}',
    'service imap-login {',
    '  chroot =',
    '  inet_listener imap {',
    '    port = 0',
    '  }',
    '  inet_listener imaps {',
    `    port = ${options.port}`,
    '    ssl = yes',
    '  }',
    '}',
    'service anvil {',
    '  chroot =',
    '}',
    'service stats {',
    '  unix_listener stats-reader {',
    `    user = ${internal.name}`,
    '  }',
    '  unix_listener stats-writer {',
    `    user = ${internal.name}`,
    '  }',
    '}',
  ].join('\n');
  const file = join(dir, 'dovecot.conf');
  writeFileSync(file, config + '\n');
  return file;
}

async function waitForPort(port: number, timeoutMs: number, exited: () => boolean, log: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (exited()) throw new Error(`dovecot exited at start:\n${log().slice(-3000)}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`dovecot did not listen on ${port} within ${timeoutMs} ms:\n${log().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
