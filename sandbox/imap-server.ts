// The sandbox's sending mailboxes over IMAP, as Exchange Online serves them to the delivery report reader:
// implicit TLS, AUTHENTICATE XOAUTH2 with an access token checked by the same TokenAuthority as the SMTP server
// (audience, tenant of the mail domain), and the subset of IMAP4rev1 (RFC 3501) plus MOVE (RFC 6851) and UIDPLUS
// (RFC 4315) that an imapflow client reading reports uses. No maintained npm package serves this: hoodiecrow-imap,
// the scriptable mock, has not been released since 2015 and takes fixed XOAUTH2 tokens only.
// Everything a client sends is bounded: line length, literal size, commands per connection, idle time.
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import libmime from 'libmime';
import { EXCHANGE_AUDIENCE, type TokenAuthority } from './token-authority';
import { type Folder, type SendingMailboxes, type StoredMessage } from './sending-mailboxes';

export const MAX_LINE_BYTES = 16 * 1024;
export const MAX_LITERAL_BYTES = 16 * 1024;
export const MAX_COMMANDS_PER_CONNECTION = 10_000;
const IDLE_TIMEOUT_MS = 5 * 60_000;
const CAPABILITIES = 'IMAP4rev1 AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE';
const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

export interface ImapServerOptions {
  tls: { certPem: string; keyPem: string };
  tokens: TokenAuthority;
  mailboxes: SendingMailboxes;
  /** The audience tokens must carry (Exchange Online's resource by default). */
  audience?: string;
  /** The tenant of each mail domain: a mailbox takes only a token of its own tenant, as the SMTP server does. */
  tenants?: Record<string, string>;
  port?: number;
}

export interface ImapServer {
  host: 'localhost';
  port: number;
  /** Successful and refused sign-ins so far, for tests. */
  authentications: Array<{ mailbox: string; ok: boolean }>;
  stop(): Promise<void>;
}

export async function startImapServer(options: ImapServerOptions): Promise<ImapServer> {
  const audience = options.audience ?? EXCHANGE_AUDIENCE;
  const authentications: ImapServer['authentications'] = [];
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2' }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // client resets end the session; nothing to report
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    serveConnection(socket, {
      mailboxes: options.mailboxes,
      authenticate(mailbox, token) {
        const verdict = options.tokens.verify(token, { audience });
        const tenant = options.tenants?.[mailbox.slice(mailbox.lastIndexOf('@') + 1)];
        const ok = verdict.ok && (tenant === undefined || verdict.claims.tid.toLowerCase() === tenant.toLowerCase());
        authentications.push({ mailbox, ok });
        return ok;
      },
    });
  });
  server.on('tlsClientError', () => undefined);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  return {
    host: 'localhost',
    port,
    authentications,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

interface Session {
  mailboxes: SendingMailboxes;
  authenticate(mailbox: string, token: string): boolean;
}

/** Reads command lines (with their literals) off the socket and answers them one at a time. */
function serveConnection(socket: TLSSocket, session: Session): void {
  const state: ConnectionState = { ...session, write: (text) => socket.write(text), commands: 0 };
  let buffer = Buffer.alloc(0);
  /** The command so far, when it waits for a literal of `literalLeft` bytes. */
  let pending: { parts: Buffer[]; literalLeft: number } | undefined;

  state.write(`* OK [CAPABILITY ${CAPABILITIES}] IMAP4rev1 server ready (local stand-in for Exchange Online)\r\n`);
  socket.on('data', (chunk: Buffer) => {
    if (socket.writableEnded) return; // said BYE: whatever follows is not read
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (pending && pending.literalLeft > 0) {
        if (buffer.length < pending.literalLeft) return;
        pending.parts.push(buffer.subarray(0, pending.literalLeft));
        buffer = buffer.subarray(pending.literalLeft);
        pending.literalLeft = 0;
      }
      const end = buffer.indexOf('\r\n');
      if (end < 0) {
        if (buffer.length > MAX_LINE_BYTES) {
          state.write('* BYE Line too long\r\n');
          socket.end();
        }
        return;
      }
      if (end > MAX_LINE_BYTES) {
        state.write('* BYE Line too long\r\n');
        socket.end();
        return;
      }
      const line = buffer.subarray(0, end);
      buffer = buffer.subarray(end + 2);
      const literal = /\{(\d{1,10})(\+?)\}$/.exec(line.toString('latin1'));
      const parts = [...(pending?.parts ?? []), line];
      if (literal) {
        const size = Number(literal[1]);
        if (size > MAX_LITERAL_BYTES) {
          state.write('* BYE Literal too large\r\n');
          socket.end();
          return;
        }
        pending = { parts: [...parts, Buffer.from('\r\n')], literalLeft: size };
        if (!literal[2]) state.write('+ Ready for literal\r\n');
        continue;
      }
      pending = undefined;
      const command = Buffer.concat(parts);
      if (++state.commands > MAX_COMMANDS_PER_CONNECTION) {
        state.write('* BYE Too many commands\r\n');
        socket.end();
        return;
      }
      let close: boolean;
      try {
        close = answer(command.toString('utf8'), state);
      } catch {
        close = true; // a fault of this stand-in ends the connection, never the sandbox
        state.write('* BYE Internal error\r\n');
      }
      if (close) {
        socket.end();
        return;
      }
    }
  });
}

interface ConnectionState extends Session {
  write(text: string | Buffer): void;
  commands: number;
  user?: string;
  selected?: { folder: Folder; readOnly: boolean };
  /** A tag waiting for the XOAUTH2 response line after a "+" continuation. */
  awaitingSasl?: string;
}

/** Answers one command; true when the connection is to be closed. */
function answer(line: string, state: ConnectionState): boolean {
  if (state.awaitingSasl) {
    const tag = state.awaitingSasl;
    state.awaitingSasl = undefined;
    return authenticateXoauth2(tag, line.trim(), state);
  }
  let tokens: Token[];
  try {
    tokens = tokenize(line);
  } catch (error) {
    state.write(`* BAD ${(error as Error).message}\r\n`);
    return false;
  }
  const [tagToken, commandToken, ...args] = tokens;
  const tag = typeof tagToken === 'string' && /^[A-Za-z0-9.]{1,64}$/.test(tagToken) ? tagToken : undefined;
  if (!tag || typeof commandToken !== 'string') {
    state.write('* BAD Invalid command\r\n');
    return false;
  }
  let name = commandToken.toUpperCase();
  let uid = false;
  if (name === 'UID' && typeof args[0] === 'string') {
    uid = true;
    name = (args.shift() as string).toUpperCase();
  }
  // Each answer ends the command and keeps the connection open.
  const reply = (status: string, text: string) => {
    state.write(`${tag} ${status} ${text}\r\n`);
    return false;
  };
  const ok = (text = `${name} completed.`) => reply('OK', text);
  const no = (text: string) => reply('NO', text);
  const bad = (text: string) => reply('BAD', text);

  switch (name) {
    case 'CAPABILITY':
      state.write(`* CAPABILITY ${CAPABILITIES}\r\n`);
      return ok();
    case 'NOOP':
      return ok();
    case 'LOGOUT':
      state.write('* BYE Logging out\r\n');
      ok();
      return true;
    case 'LOGIN':
      return no('LOGIN failed.'); // Exchange Online takes OAuth2 only
    case 'AUTHENTICATE': {
      if (state.user) return bad('Already authenticated');
      if (typeof args[0] !== 'string' || args[0].toUpperCase() !== 'XOAUTH2') return no('Unsupported authentication mechanism');
      if (typeof args[1] === 'string') return authenticateXoauth2(tag, args[1], state);
      state.awaitingSasl = tag;
      state.write('+ \r\n');
      return false;
    }
  }
  if (!state.user) return bad('Command received in Invalid state.');
  const user = state.user;

  switch (name) {
    case 'LIST':
    case 'LSUB': {
      const pattern = typeof args[1] === 'string' ? args[1] : '';
      if (pattern === '') {
        state.write(`* ${name} (\\Noselect) "/" ""\r\n`);
        return ok();
      }
      const matcher = new RegExp(
        `^${pattern
          .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/%/g, '[^/]*')}$`,
        'i',
      );
      for (const folder of state.mailboxes.folders(user)) {
        if (matcher.test(folder.name)) state.write(`* ${name} (\\HasNoChildren) "/" ${quote(folder.name)}\r\n`);
      }
      return ok();
    }
    case 'CREATE': {
      const folderName = typeof args[0] === 'string' ? args[0] : undefined;
      if (!folderName || folderName.length > 200 || /[\r\n]/.test(folderName)) return bad('Invalid folder name');
      if (state.mailboxes.folder(user, folderName)) return no('Mailbox already exists.');
      try {
        state.mailboxes.folder(user, folderName, true);
      } catch (error) {
        return no((error as Error).message);
      }
      return ok();
    }
    case 'SELECT':
    case 'EXAMINE': {
      state.selected = undefined;
      const folder = typeof args[0] === 'string' ? state.mailboxes.folder(user, args[0]) : undefined;
      if (!folder) return no('Mailbox does not exist.');
      const readOnly = name === 'EXAMINE';
      state.selected = { folder, readOnly };
      state.write(
        `* FLAGS (${SYSTEM_FLAGS.join(' ')})\r\n* OK [PERMANENTFLAGS (${SYSTEM_FLAGS.join(' ')})] Permanent flags\r\n` +
          `* ${folder.messages.length} EXISTS\r\n* 0 RECENT\r\n` +
          `* OK [UIDVALIDITY ${folder.uidValidity}] UIDVALIDITY value\r\n* OK [UIDNEXT ${folder.uidNext}] The next unique identifier value\r\n`,
      );
      return ok(`[${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] ${name} completed.`);
    }
    case 'CLOSE':
      if (state.selected && !state.selected.readOnly) expunge(state, false);
      state.selected = undefined;
      return ok();
  }
  const selected = state.selected;
  if (!selected) return bad('Command received in Invalid state.');
  const { folder } = selected;

  switch (name) {
    case 'SEARCH': {
      // The reader asks for every message (ALL); other criteria are beyond what this stand-in needs.
      const criteria = args.filter((a) => typeof a === 'string').map((a) => a.toUpperCase());
      if (criteria.length !== 1 || criteria[0] !== 'ALL') return bad('Only SEARCH ALL is supported by the sandbox');
      const found = folder.messages.map((message, index) => (uid ? message.uid : index + 1));
      state.write(`* SEARCH${found.map((n) => ` ${n}`).join('')}\r\n`);
      return ok();
    }
    case 'FETCH': {
      const set = typeof args[0] === 'string' ? parseSet(args[0]) : undefined;
      const items = fetchItems(args[1]);
      if (!set || !items) return bad('Invalid FETCH arguments');
      if (uid && !items.some((i) => i.name === 'UID')) items.unshift({ name: 'UID' });
      for (const [index, message] of matching(folder, set, uid)) {
        const parts: Buffer[] = [];
        for (const item of items) parts.push(fetchItem(item, message, selected.readOnly));
        state.write(Buffer.concat([Buffer.from(`* ${index + 1} FETCH (`), join(parts, ' '), Buffer.from(')\r\n')]));
      }
      return ok();
    }
    case 'STORE': {
      const set = typeof args[0] === 'string' ? parseSet(args[0]) : undefined;
      const mode = typeof args[1] === 'string' ? args[1].toUpperCase() : '';
      const flags = Array.isArray(args[2]) ? args[2] : typeof args[2] === 'string' ? [args[2]] : undefined;
      const known = /^([+-]?)FLAGS(\.SILENT)?$/.exec(mode);
      if (!set || !known || !flags || flags.some((f) => typeof f !== 'string')) return bad('Invalid STORE arguments');
      if (selected.readOnly) return no('Mailbox is read-only.');
      for (const [index, message] of matching(folder, set, uid)) {
        if (!known[1]) message.flags.clear();
        for (const flag of flags as string[]) {
          if (known[1] === '-') message.flags.delete(flag);
          else message.flags.add(flag);
        }
        if (!known[2]) state.write(`* ${index + 1} FETCH (${uid ? `UID ${message.uid} ` : ''}FLAGS (${[...message.flags].join(' ')}))\r\n`);
      }
      return ok();
    }
    case 'COPY':
    case 'MOVE': {
      const set = typeof args[0] === 'string' ? parseSet(args[0]) : undefined;
      const target = typeof args[1] === 'string' ? state.mailboxes.folder(user, args[1]) : undefined;
      if (!set) return bad(`Invalid ${name} arguments`);
      if (!target) return no('[TRYCREATE] Mailbox does not exist.');
      if (name === 'MOVE' && selected.readOnly) return no('Mailbox is read-only.');
      const chosen = matching(folder, set, uid);
      const copies = chosen.map(([, message]) => state.mailboxes.append(target, message.raw, new Set(message.flags), message.internalDate));
      const code =
        chosen.length > 0
          ? `[COPYUID ${target.uidValidity} ${chosen.map(([, m]) => m.uid).join(',')} ${copies.map((m) => m.uid).join(',')}] `
          : '';
      if (name === 'COPY') return ok(`${code}COPY completed.`);
      state.write(`* OK ${code}Moved\r\n`);
      const moved = new Set(chosen.map(([, message]) => message));
      removeMessages(state, (message) => moved.has(message));
      return ok();
    }
    case 'EXPUNGE':
      if (selected.readOnly) return no('Mailbox is read-only.');
      expunge(state, true);
      return ok();
  }
  return bad(`Command not supported by the sandbox: ${name.slice(0, 40)}`);
}

function authenticateXoauth2(tag: string, response: string, state: ConnectionState): boolean {
  const decoded = Buffer.from(response, 'base64').toString('utf8');
  // user=<mailbox>^Aauth=Bearer <token>^A^A
  const [user = '', auth = '', ...rest] = decoded.split('\x01');
  const mailbox = /^user=(.{1,320})$/.exec(user)?.[1].toLowerCase();
  const accessToken = /^auth=Bearer (.{1,16384})$/.exec(auth)?.[1];
  if (!mailbox || !accessToken || rest.join('') !== '' || rest.length !== 2 || !state.authenticate(mailbox, accessToken)) {
    state.write(`${tag} NO AUTHENTICATE failed.\r\n`);
    return false;
  }
  state.user = mailbox;
  state.write(`${tag} OK [CAPABILITY ${CAPABILITIES}] AUTHENTICATE completed.\r\n`);
  return false;
}

/** Removes the selected folder's messages that `remove` picks, telling the client each one's sequence number. */
function removeMessages(state: ConnectionState, remove: (message: StoredMessage) => boolean): void {
  const folder = state.selected!.folder;
  // Highest sequence numbers first, so that each EXPUNGE leaves the ones still to come unchanged.
  for (let index = folder.messages.length - 1; index >= 0; index--) {
    if (!remove(folder.messages[index])) continue;
    folder.messages.splice(index, 1);
    state.write(`* ${index + 1} EXPUNGE\r\n`);
  }
}

function expunge(state: ConnectionState, tell: boolean): void {
  if (tell) removeMessages(state, (message) => message.flags.has('\\Deleted'));
  else state.selected!.folder.messages = state.selected!.folder.messages.filter((m) => !m.flags.has('\\Deleted'));
}

type Token = string | Token[];

/** Splits a command line into atoms, quoted strings, literals and parenthesized lists (bracketed sections stay in their atom). */
function tokenize(line: string): Token[] {
  const root: Token[] = [];
  const stack: Token[][] = [root];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    const current = stack[stack.length - 1];
    if (c === ' ') {
      i++;
    } else if (c === '(') {
      if (stack.length > 8) throw new Error('Too deeply nested');
      const list: Token[] = [];
      current.push(list);
      stack.push(list);
      i++;
    } else if (c === ')') {
      if (stack.length === 1) throw new Error('Unbalanced parenthesis');
      stack.pop();
      i++;
    } else if (c === '"') {
      let value = '';
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\') i++;
        value += line[i++] ?? '';
      }
      if (line[i] !== '"') throw new Error('Unterminated string');
      current.push(value);
      i++;
    } else if (c === '{') {
      const literal = /^\{(\d+)\+?\}\r\n/.exec(line.slice(i));
      if (!literal) throw new Error('Invalid literal');
      const start = i + literal[0].length;
      current.push(line.slice(start, start + Number(literal[1])));
      i = start + Number(literal[1]);
    } else {
      let end = i;
      let depth = 0;
      while (end < line.length && (depth > 0 || (line[end] !== ' ' && line[end] !== '(' && line[end] !== ')'))) {
        if (line[end] === '[') depth++;
        if (line[end] === ']') depth--;
        end++;
      }
      current.push(line.slice(i, end));
      i = end;
    }
  }
  if (stack.length !== 1) throw new Error('Unbalanced parenthesis');
  return root;
}

type SequenceSet = Array<[number, number]>;

/** "1:5,9,12:*" as ranges; "*" is the largest number in the folder (Infinity here, as ranges are only tested). */
function parseSet(text: string): SequenceSet | undefined {
  if (text.length > 4096) return undefined;
  const ranges: SequenceSet = [];
  for (const part of text.split(',')) {
    const match = /^(\d+|\*)(?::(\d+|\*))?$/.exec(part);
    if (!match) return undefined;
    const a = match[1] === '*' ? Infinity : Number(match[1]);
    const b = match[2] === undefined ? a : match[2] === '*' ? Infinity : Number(match[2]);
    ranges.push([Math.min(a, b), Math.max(a, b)]);
  }
  return ranges;
}

/** The folder's messages in the set (by UID or by sequence number), with their index. */
function matching(folder: Folder, set: SequenceSet, byUid: boolean): Array<[number, StoredMessage]> {
  const last = byUid ? (folder.messages.at(-1)?.uid ?? 0) : folder.messages.length;
  const inSet = (n: number) => set.some(([a, b]) => (a === Infinity ? n === last : n >= a && n <= (b === Infinity ? last : b)));
  const found: Array<[number, StoredMessage]> = [];
  folder.messages.forEach((message, index) => {
    if (inSet(byUid ? message.uid : index + 1)) found.push([index, message]);
  });
  return found;
}

interface FetchItem {
  name: 'UID' | 'FLAGS' | 'RFC822.SIZE' | 'INTERNALDATE' | 'BODYSTRUCTURE' | 'BODY[]';
  peek?: boolean;
  partial?: [number, number];
}

function fetchItems(token: Token | undefined): FetchItem[] | undefined {
  const list = Array.isArray(token) ? token : token === undefined ? [] : [token];
  const items: FetchItem[] = [];
  for (const entry of list) {
    if (typeof entry !== 'string') return undefined;
    const upper = entry.toUpperCase();
    if (upper === 'UID' || upper === 'FLAGS' || upper === 'RFC822.SIZE' || upper === 'INTERNALDATE' || upper === 'BODYSTRUCTURE') {
      items.push({ name: upper });
      continue;
    }
    const body = /^BODY(\.PEEK)?\[\](?:<(\d{1,10})\.(\d{1,10})>)?$/.exec(upper);
    if (!body) return undefined;
    items.push({ name: 'BODY[]', peek: Boolean(body[1]), partial: body[2] ? [Number(body[2]), Number(body[3])] : undefined });
  }
  return items.length > 0 ? items : undefined;
}

function fetchItem(item: FetchItem, message: StoredMessage, readOnly: boolean): Buffer {
  switch (item.name) {
    case 'UID':
      return Buffer.from(`UID ${message.uid}`);
    case 'FLAGS':
      return Buffer.from(`FLAGS (${[...message.flags].join(' ')})`);
    case 'RFC822.SIZE':
      return Buffer.from(`RFC822.SIZE ${message.raw.length}`);
    case 'INTERNALDATE':
      return Buffer.from(`INTERNALDATE "${imapDate(message.internalDate)}"`);
    case 'BODYSTRUCTURE':
      return Buffer.from(`BODYSTRUCTURE ${bodyStructure(message.raw)}`);
    case 'BODY[]': {
      if (!item.peek && !readOnly) message.flags.add('\\Seen');
      const bytes = item.partial ? message.raw.subarray(item.partial[0], item.partial[0] + item.partial[1]) : message.raw;
      const label = item.partial ? `BODY[]<${item.partial[0]}>` : 'BODY[]';
      return Buffer.concat([Buffer.from(`${label} {${bytes.length}}\r\n`), bytes]);
    }
  }
}

function join(parts: Buffer[], separator: string): Buffer {
  return Buffer.concat(parts.flatMap((part, index) => (index === 0 ? [part] : [Buffer.from(separator), part])));
}

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

function nstring(text: string | undefined): string {
  return text === undefined ? 'NIL' : quote(text);
}

function imapDate(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}-${months[date.getUTCMonth()]}-${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** The BODYSTRUCTURE of a message (RFC 3501 7.4.2), read from its MIME headers and boundaries, nested at most 8 deep. */
export function bodyStructure(raw: Buffer, depth = 0): string {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split < 0 ? raw.length : split).toString('latin1');
  const body = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const contentType = libmime.parseHeaderValue(headers.get('content-type') ?? 'text/plain; charset=us-ascii');
  const [type, subtype = ''] = (contentType.value || 'text/plain').toLowerCase().split('/');
  const params = Object.entries(contentType.params).filter(([key]) => key !== 'boundary' || type === 'multipart');
  const paramList = params.length > 0 ? `(${params.map(([k, v]) => `${quote(k)} ${quote(v)}`).join(' ')})` : 'NIL';
  if (type === 'multipart' && contentType.params.boundary && depth < 8) {
    const children = multipartChildren(body, contentType.params.boundary).map((child) => bodyStructure(child, depth + 1));
    if (children.length > 0) return `(${children.join('')} ${quote(subtype)} ${paramList} NIL NIL NIL)`;
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toUpperCase();
  const basic = `${quote(type)} ${quote(subtype)} ${paramList} ${nstring(headers.get('content-id'))} ${nstring(headers.get('content-description'))} ${quote(encoding)} ${body.length}`;
  const lines = body.length === 0 ? 0 : body.toString('latin1').split('\r\n').length;
  if (type === 'text') return `(${basic} ${lines} NIL NIL NIL NIL)`;
  if (type === 'message' && subtype === 'rfc822' && depth < 8) {
    return `(${basic} (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ${bodyStructure(body, depth + 1)} ${lines} NIL NIL NIL NIL)`;
  }
  return `(${basic} NIL NIL NIL NIL)`;
}

function multipartChildren(body: Buffer, boundary: string): Buffer[] {
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  const children: Buffer[] = [];
  let start = text.startsWith(delimiter) ? 0 : text.indexOf(`\r\n${delimiter}`);
  while (start >= 0 && children.length < 100) {
    const lineEnd = text.indexOf('\r\n', start + (text.startsWith(delimiter, start) ? 0 : 2));
    const marker = text.slice(start, lineEnd < 0 ? text.length : lineEnd).trim();
    if (marker.startsWith(`${delimiter}--`) || lineEnd < 0) break;
    const next = text.indexOf(`\r\n${delimiter}`, lineEnd);
    children.push(body.subarray(lineEnd + 2, next < 0 ? body.length : next));
    start = next;
  }
  return children;
}
