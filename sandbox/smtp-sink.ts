// A real SMTP server that behaves like Exchange Online's submission endpoint (smtp.office365.com:587) where it
// matters to a client: plain connect, STARTTLS before anything else, AUTH XOAUTH2 with an access token checked by a
// TokenAuthority, Exchange's replies on failure. It records what arrives and in which order, counts concurrent
// connections per mailbox, and can be scripted to fail at any stage.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { EXCHANGE_AUDIENCE, type TokenAuthority } from './token-authority';
import type { ChaosRecipients } from './chaos-recipients';

export const EXCHANGE_MAX_MESSAGE_BYTES = 35 * 1024 * 1024;

export interface SmtpSinkOptions {
  tls: { certPem: string; keyPem: string };
  tokens: TokenAuthority;
  /** The audience tokens must carry (Exchange Online's resource by default). */
  audience?: string;
  /** Mailboxes that exist; AUTH as any other fails like a missing permission. Default: any mailbox. */
  mailboxes?: string[];
  /**
   * The tenant of each mail domain. As in Exchange Online, a mailbox takes only a token of its own tenant: another
   * tenant's token fails AUTH like a missing permission. Domains not listed take any tenant's token.
   */
  tenants?: Record<string, string>;
  /** Authenticated connections allowed per mailbox at once; the next AUTH gets 432 4.3.2 like Exchange (which allows 3). */
  maxConnectionsPerMailbox?: number;
  maxMessageBytes?: number;
  port?: number;
  /** Write each accepted message there as an .eml file. */
  mailDir?: string;
  onMessage?: (message: ReceivedMessage) => void;
  /** Recipients that fail on purpose by their local part (defer, reject, auth-fail, bounce, delay). */
  chaos?: ChaosRecipients;
}

export interface ReceivedMessage {
  raw: Buffer;
  mailFrom: string;
  rcptTo: string[];
  /** The mailbox the connection authenticated as (lower case). */
  mailbox: string;
  messageId?: string;
  connectionId: string;
  receivedAt: number;
  /** The .eml file, when mailDir is set. */
  file?: string;
}

export type SmtpEventType = 'connect' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'close';

export interface SmtpEvent {
  type: SmtpEventType;
  at: number;
  /** False when the server refused the step (or dropped the connection during DATA). */
  ok: boolean;
  /** The mailbox given in AUTH, the address in MAIL FROM / RCPT TO. */
  address?: string;
  /** The refusal sent, e.g. "535 5.7.3 Authentication unsuccessful". */
  reply?: string;
}

export interface ConnectionLog {
  id: string;
  remoteAddress: string;
  mailbox?: string;
  events: SmtpEvent[];
  /**
   * The command lines as the client wrote them (credentials redacted by smtp-server), since the parsed addresses
   * in `events` are smtp-server's: it turns A-label domains into Unicode.
   */
  commands: string[];
}

export interface FaultContext {
  connectionId: string;
  /** The authenticated mailbox (or the one trying to authenticate, at the auth stage). */
  mailbox?: string;
  from?: string;
  /** The recipient being added, at the rcpt stage. */
  recipient?: string;
  recipients: string[];
}

type ReplyStage = 'connect' | 'auth' | 'mail' | 'rcpt' | 'data';

/**
 * A scripted failure, used `times` times (default 1) when `when` (default: always) matches. `reply` is the full
 * SMTP reply, e.g. "451 4.7.500 Server busy. Please try again later.".
 */
export type SmtpFault =
  | { stage: ReplyStage; reply: string; times?: number; when?: (context: FaultContext) => boolean }
  /** Destroys the socket once DATA has started arriving, before any reply. */
  | { stage: 'dropDuringData'; times?: number; when?: (context: FaultContext) => boolean }
  /**
   * Holds the reply to DATA for `ms`. Like Exchange, which commits a message when it answers 250, the message
   * is kept only if the client is still connected then (a client killed meanwhile loses it).
   */
  | { stage: 'stallData'; ms: number; times?: number; when?: (context: FaultContext) => boolean };

export interface MailboxStats {
  /** Authenticated connections open now. */
  connections: number;
  maxConnections: number;
  /** When each accepted message arrived (epoch ms), oldest first. */
  messageTimes: number[];
}

export interface SmtpSink {
  host: 'localhost';
  port: number;
  messages: ReceivedMessage[];
  /** Every connection so far, in the order they arrived. */
  connections: ConnectionLog[];
  inject(fault: SmtpFault): void;
  clearFaults(): void;
  mailbox(address: string): MailboxStats;
  /** Closes the listener and every open connection at once. */
  stop(): Promise<void>;
}

const AUTH_FAILED = '535 5.7.3 Authentication unsuccessful';
const AUTH_BEFORE_TLS = '504 5.7.4 Unrecognized authentication type';
const TOO_MANY_CONNECTIONS = '432 4.3.2 Concurrent connections limit exceeded';
const TOO_BIG = '552 5.3.4 Message size exceeds fixed maximum message size';

/** An smtp-server logger that keeps only the client's command lines (its "C:" debug entries). */
function commandLogger(onCommand: (connectionId: string, line: string) => void) {
  const ignore = () => undefined;
  return {
    debug(meta: { tnx?: string; cid?: string }, _format: string, line?: unknown) {
      if (meta?.tnx === 'command' && meta.cid && typeof line === 'string') onCommand(meta.cid, line);
    },
    trace: ignore,
    info: ignore,
    warn: ignore,
    error: ignore,
    fatal: ignore,
  };
}

export async function startSmtpSink(options: SmtpSinkOptions): Promise<SmtpSink> {
  const audience = options.audience ?? EXCHANGE_AUDIENCE;
  const knownMailboxes = options.mailboxes && new Set(options.mailboxes.map((m) => m.toLowerCase()));
  const maxMessageBytes = options.maxMessageBytes ?? EXCHANGE_MAX_MESSAGE_BYTES;
  if (options.mailDir) mkdirSync(options.mailDir, { recursive: true });

  const messages: ReceivedMessage[] = [];
  const logs = new Map<string, ConnectionLog>();
  const stats = new Map<string, MailboxStats>();
  const sockets = new Set<Socket>();
  const secureSockets = new Map<string, Socket>();
  let faults: Array<SmtpFault & { left: number }> = [];

  const statsOf = (mailbox: string): MailboxStats => {
    let entry = stats.get(mailbox);
    if (!entry) stats.set(mailbox, (entry = { connections: 0, maxConnections: 0, messageTimes: [] }));
    return entry;
  };
  const record = (session: SMTPServerSession, event: Omit<SmtpEvent, 'at'>) => {
    logs.get(session.id)?.events.push({ at: Date.now(), ...event });
  };
  const contextOf = (session: SMTPServerSession, extra: Partial<FaultContext> = {}): FaultContext => ({
    connectionId: session.id,
    mailbox: session.user as string | undefined,
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
    recipients: session.envelope.rcptTo.map((r) => r.address),
    ...extra,
  });
  /** Takes one use of the first matching fault for `stage`. */
  const takeFault = (stage: SmtpFault['stage'], context: FaultContext): SmtpFault | undefined => {
    const fault = faults.find((f) => f.stage === stage && f.left > 0 && (!f.when || f.when(context)));
    if (fault) fault.left--;
    return fault;
  };
  /** The scripted reply for `stage`, if a fault applies. */
  const faultReply = (stage: ReplyStage, context: FaultContext): string | undefined => {
    const fault = takeFault(stage, context);
    return fault && 'reply' in fault ? fault.reply : undefined;
  };
  /** Records a refusal and turns it into the error smtp-server sends as the reply. */
  const refuse = (session: SMTPServerSession, type: SmtpEventType, reply: string, address?: string): Error => {
    record(session, { type, ok: false, reply, address });
    return replyError(reply);
  };

  const server = new SMTPServer({
    secure: false,
    key: options.tls.keyPem,
    cert: options.tls.certPem,
    name: 'localhost',
    banner: 'MAIL Service ready (local stand-in for Exchange Online)',
    authMethods: ['XOAUTH2'],
    // AUTH before STARTTLS reaches onAuth, which refuses it like Exchange does and records the attempt
    // (smtp-server's own refusal would be invisible to tests and not look like Exchange).
    allowInsecureAuth: true,
    authRequiredMessage: '5.7.57 Client not authenticated to send mail',
    disableReverseLookup: true, // a reverse DNS lookup per connection can take up to 1.5 s
    logger: commandLogger((id, line) => logs.get(id)?.commands.push(line)),
    closeTimeout: 1000, // stop() destroys every socket it knows of; this bounds the wait for any other
    onConnect(session, callback) {
      logs.set(session.id, { id: session.id, remoteAddress: session.remoteAddress, events: [], commands: [] });
      const reply = faultReply('connect', contextOf(session));
      if (reply) return callback(refuse(session, 'connect', reply));
      record(session, { type: 'connect', ok: true });
      callback();
    },
    onSecure(socket, session, callback) {
      secureSockets.set(session.id, socket);
      record(session, { type: 'starttls', ok: true });
      callback();
    },
    onAuth(auth, session, callback) {
      const mailbox = (auth.username ?? '').toLowerCase();
      if (!session.secure) return callback(refuse(session, 'auth', AUTH_BEFORE_TLS, mailbox));
      const reply = faultReply('auth', contextOf(session, { mailbox }));
      if (reply) return callback(refuse(session, 'auth', reply, mailbox));
      const verdict = options.tokens.verify(auth.accessToken ?? '', { audience });
      const tenant = options.tenants?.[mailbox.slice(mailbox.lastIndexOf('@') + 1)];
      const wrongTenant = verdict.ok && tenant !== undefined && verdict.claims.tid.toLowerCase() !== tenant.toLowerCase();
      if (!verdict.ok || wrongTenant || (knownMailboxes && !knownMailboxes.has(mailbox))) {
        return callback(refuse(session, 'auth', AUTH_FAILED, mailbox));
      }
      const mailboxStats = statsOf(mailbox);
      if (options.maxConnectionsPerMailbox !== undefined && mailboxStats.connections >= options.maxConnectionsPerMailbox) {
        return callback(refuse(session, 'auth', TOO_MANY_CONNECTIONS, mailbox));
      }
      mailboxStats.connections++;
      mailboxStats.maxConnections = Math.max(mailboxStats.maxConnections, mailboxStats.connections);
      logs.get(session.id)!.mailbox = mailbox;
      record(session, { type: 'auth', ok: true, address: mailbox });
      callback(null, { user: mailbox });
    },
    onMailFrom(address, session, callback) {
      const reply = faultReply('mail', contextOf(session, { from: address.address }));
      if (reply) return callback(refuse(session, 'mail', reply, address.address));
      record(session, { type: 'mail', ok: true, address: address.address });
      callback();
    },
    onRcptTo(address, session, callback) {
      const reply = faultReply('rcpt', contextOf(session, { recipient: address.address }));
      if (reply) return callback(refuse(session, 'rcpt', reply, address.address));
      const chaosReply = options.chaos?.rcptReply(session.user as string, address.address);
      if (chaosReply) return callback(refuse(session, 'rcpt', chaosReply, address.address));
      record(session, { type: 'rcpt', ok: true, address: address.address });
      callback();
    },
    onData(stream, session, callback) {
      const context = contextOf(session);
      if (takeFault('dropDuringData', context)) {
        stream.once('data', () => {
          record(session, { type: 'data', ok: false, reply: '(connection dropped during DATA)' });
          secureSockets.get(session.id)?.destroy();
        });
        stream.on('error', () => undefined); // the drop ends the stream with an error; nothing to report
        return;
      }
      const stall = takeFault('stallData', context);
      receive(stream).then(
        async (raw) => {
          if (raw.length > maxMessageBytes) return callback(refuse(session, 'data', TOO_BIG));
          if (stall && 'ms' in stall) {
            await new Promise((resolve) => setTimeout(resolve, stall.ms));
            if (logs.get(session.id)?.events.some((e) => e.type === 'close')) {
              record(session, { type: 'data', ok: false, reply: '(client gone before the reply; message discarded)' });
              return callback(replyError('451 4.4.0 Client disconnected'));
            }
          }
          const reply = faultReply('data', context);
          if (reply) return callback(refuse(session, 'data', reply));
          const message = accept(session, raw);
          record(session, { type: 'data', ok: true });
          callback(null, `2.6.0 ${message.messageId ?? '<>'} Queued mail for delivery`);
        },
        (error: Error) => callback(error),
      );
    },
    onClose(session) {
      record(session, { type: 'close', ok: true });
      secureSockets.delete(session.id);
      const mailbox = logs.get(session.id)?.mailbox;
      if (mailbox) statsOf(mailbox).connections--;
    },
  });

  const accept = (session: SMTPServerSession, raw: Buffer): ReceivedMessage => {
    const mailbox = session.user as string;
    const message: ReceivedMessage = {
      raw,
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      rcptTo: session.envelope.rcptTo.map((r) => r.address),
      mailbox,
      messageId: messageIdOf(raw),
      connectionId: session.id,
      receivedAt: Date.now(),
    };
    if (options.mailDir) {
      message.file = join(options.mailDir, emlName(message));
      writeFileSync(message.file, raw);
    }
    messages.push(message);
    statsOf(mailbox).messageTimes.push(message.receivedAt);
    options.onMessage?.(message);
    options.chaos?.accepted(message);
    return message;
  };

  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('error', () => undefined); // client resets show up here; they are part of the tests, not server faults

  const port = await new Promise<number>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve((server.server.address() as AddressInfo).port);
    });
  });

  return {
    host: 'localhost',
    port,
    messages,
    get connections() {
      return [...logs.values()];
    },
    inject(fault) {
      if ('reply' in fault) replyError(fault.reply); // a malformed reply fails here, not inside a callback
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    mailbox(address) {
      const entry = statsOf(address.toLowerCase());
      return { ...entry, messageTimes: [...entry.messageTimes] };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        options.chaos?.stop();
        server.close(() => resolve());
        for (const socket of [...secureSockets.values(), ...sockets]) socket.destroy();
      }),
  };
}

/** The most messages that arrived within any `windowMs` (default one minute), for per-minute rate checks. */
export function maxInSlidingWindow(times: readonly number[], windowMs = 60_000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while (sorted[end] - sorted[start] >= windowMs) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

function receive(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** "451 4.7.500 Server busy" -> an Error that smtp-server sends as exactly that reply. */
function replyError(reply: string): Error {
  const match = /^([2-5]\d\d)[ -](.*)$/.exec(reply);
  if (!match) throw new Error(`Not an SMTP reply: "${reply}"`);
  return Object.assign(new Error(match[2]), { responseCode: Number(match[1]) });
}

function messageIdOf(raw: Buffer): string | undefined {
  const end = raw.indexOf('\r\n\r\n');
  const headers = raw
    .subarray(0, end < 0 ? raw.length : end)
    .toString('utf8')
    .replace(/\r\n[ \t]+/g, ' ');
  return /^message-id:\s*(\S+)/im.exec(headers)?.[1];
}

function emlName(message: ReceivedMessage): string {
  const time = new Date(message.receivedAt).toISOString().replace(/[:.]/g, '-');
  const id = (message.messageId?.replace(/^<|>$/g, '') ?? message.connectionId).replace(/[^A-Za-z0-9._@-]+/g, '_').slice(0, 100);
  return `${time}-${id}.eml`;
}
