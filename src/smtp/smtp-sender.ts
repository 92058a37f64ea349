// SMTP connections per sending mailbox, capped across all instances (connection slots), and sends
// within the mailbox's messages-per-minute budget (rate limiter). Each "lane" is one connection
// slot (a blob lease held by this process) with its own pooled nodemailer transport of one
// connection, kept while there is work so connections are reused across invocations, and given
// back after a short idle time so other instances can have the slot. A send is admitted by the rate limiter's
// window before it takes its connection (the worker has waited for its turn before).
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import type Mail from 'nodemailer/lib/mailer';
import { RENEW_BEFORE_EXPIRY_MS, type TokenSource } from '../identity/token-source';
import type { ConnectionSlots, Slot } from '../governor/connection-slots';
import type { RateLimiter } from '../governor/rate-limiter';
import { trace } from '@opentelemetry/api';
import { instruments } from '../telemetry/instruments';

export interface SmtpOptions {
  host: string;
  port: number;
  tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /** The certificate's name when the host is reached by IP address or alias; the host otherwise. */
  tlsServername?: string;
  maxConnectionsPerMailbox: number;
}

export interface SentInfo {
  messageId: string;
  accepted: string[];
  rejected: string[];
  response: string;
}

export type ThrottleReason = 'connection-slots' | 'rate-limit' | 'daily-recipient-limit' | 'daily-quota';

const THROTTLE_MESSAGES: Record<ThrottleReason, string> = {
  'connection-slots': 'all SMTP connection slots of the mailbox are in use',
  'rate-limit': 'the mailbox reached its messages-per-minute limit',
  'daily-recipient-limit': 'the mailbox reached its daily recipient limit',
  'daily-quota': 'the mailbox is held after Exchange refused with its daily quota',
};

/** Our own per-mailbox governor said wait: try later, this is not the message's fault. */
export class ThrottledError extends Error {
  constructor(
    readonly reason: ThrottleReason,
    readonly retryAfterMs: number,
  ) {
    super(THROTTLE_MESSAGES[reason]);
    this.name = 'ThrottledError';
  }
}

interface Lane {
  slot: Slot;
  transport: Transporter<SMTPPool.SentMessageInfo>;
  busy: boolean;
  idleTimer?: NodeJS.Timeout;
}

interface Mailbox {
  lanes: Lane[];
  acquiring: number;
  waiters: Array<(lane: Lane | undefined) => void>;
}

export interface LaneTiming {
  /** How long a send waits for a lane of this process before giving up. */
  waitMs: number;
  /** How long an idle lane keeps its slot and connection. */
  idleMs: number;
}

export class SmtpSender {
  private readonly mailboxes = new Map<string, Mailbox>();

  constructor(
    private readonly options: SmtpOptions,
    private readonly tokens: TokenSource,
    private readonly slots: ConnectionSlots,
    private readonly rate: RateLimiter,
    private readonly timing: LaneTiming = { waitMs: 5_000, idleMs: 5_000 },
  ) {}

  /** Sends within the per-mailbox limits, or throws ThrottledError when one says wait. */
  async send(mailbox: string, message: Mail.Options, recipients: number): Promise<SentInfo> {
    const waitStarted = performance.now();
    // Admitted before it takes a connection: a send waiting for a place in the window holds none that another send
    // of the mailbox could use. Its end counts from admission; a wait for a connection is part of its send time.
    const admitted = await this.rate.admit(mailbox, recipients);
    if (!admitted.ok) throw new ThrottledError(admitted.reason, Math.max(0, admitted.at - Date.now()));
    const info = await this.rate.track(mailbox, admitted.end, async () => {
      const lane = await this.takeLane(mailbox);
      try {
        instruments().governorWait.record((performance.now() - waitStarted) / 1000);
        // The send's span (mail.smtp.send) names the server it talks to, as the semantic conventions' client spans do.
        trace.getActiveSpan()?.setAttributes({ 'server.address': this.options.host, 'server.port': this.options.port });
        return await lane.transport.sendMail(message);
      } finally {
        this.giveBack(mailbox, lane);
      }
    });
    return {
      messageId: info.messageId,
      accepted: info.accepted.map(String),
      rejected: info.rejected.map(String),
      response: info.response,
    };
  }

  /** Starts the mailbox's idle connections afresh, e.g. after an authentication failure; busy ones carry on. */
  reset(mailbox: string): void {
    for (const lane of this.mailboxes.get(mailbox)?.lanes ?? []) {
      if (lane.busy) continue;
      lane.transport.close();
      lane.transport = this.createTransport(mailbox);
    }
  }

  async close(): Promise<void> {
    const lanes = [...this.mailboxes.values()].flatMap((m) => m.lanes);
    this.mailboxes.clear();
    await Promise.all(lanes.map((lane) => this.retire(lane)));
  }

  private state(mailbox: string): Mailbox {
    let state = this.mailboxes.get(mailbox);
    if (!state) this.mailboxes.set(mailbox, (state = { lanes: [], acquiring: 0, waiters: [] }));
    return state;
  }

  private async takeLane(mailbox: string): Promise<Lane> {
    const state = this.state(mailbox);
    const idle = state.lanes.find((lane) => !lane.busy);
    if (idle) return this.occupy(idle);
    if (state.lanes.length + state.acquiring < this.options.maxConnectionsPerMailbox) {
      state.acquiring++;
      try {
        const slot = await this.slots.tryAcquire(mailbox);
        if (slot) {
          const lane: Lane = { slot, transport: this.createTransport(mailbox), busy: false };
          state.lanes.push(lane);
          return this.occupy(lane);
        }
      } finally {
        state.acquiring--;
      }
    }
    // Only when this process neither holds nor is acquiring a lane for the mailbox are its slots held elsewhere;
    // sends waiting for a lane that will now never come are told at once.
    if (state.lanes.length + state.acquiring === 0) {
      for (const waiter of state.waiters.splice(0)) waiter(undefined);
      throw new ThrottledError('connection-slots', this.timing.waitMs);
    }
    // This process holds lanes for the mailbox, or is opening them: wait for one rather than defer the message.
    const lane = await new Promise<Lane | undefined>((resolve) => {
      const timer = setTimeout(() => {
        state.waiters.splice(state.waiters.indexOf(waiter), 1);
        resolve(undefined);
      }, this.timing.waitMs);
      const waiter = (l: Lane | undefined) => (clearTimeout(timer), resolve(l));
      state.waiters.push(waiter);
    });
    if (!lane) throw new ThrottledError('connection-slots', this.timing.waitMs);
    return lane;
  }

  private occupy(lane: Lane): Lane {
    clearTimeout(lane.idleTimer);
    lane.busy = true;
    return lane;
  }

  private giveBack(mailbox: string, lane: Lane): void {
    lane.busy = false;
    const state = this.state(mailbox);
    if (lane.slot.lost) {
      // The lease lapsed, so another instance may already use this slot: close the connection.
      state.lanes.splice(state.lanes.indexOf(lane), 1);
      void this.retire(lane);
      state.waiters.shift()?.(undefined);
      return;
    }
    const waiter = state.waiters.shift();
    if (waiter) return waiter(this.occupy(lane));
    lane.idleTimer = setTimeout(() => {
      state.lanes.splice(state.lanes.indexOf(lane), 1);
      void this.retire(lane);
    }, this.timing.idleMs);
    lane.idleTimer.unref();
  }

  private async retire(lane: Lane): Promise<void> {
    clearTimeout(lane.idleTimer);
    lane.transport.close();
    await lane.slot.release();
  }

  private createTransport(mailbox: string): Transporter<SMTPPool.SentMessageInfo> {
    const transport = nodemailer.createTransport(laneTransportOptions(this.options, mailbox));
    transport.set(
      'oauth2_provision_cb',
      (_user: string, renew: boolean, callback: (err: Error | null, token?: string, expires?: number) => void) => {
        this.tokens.getToken({ forceRefresh: renew }).then(
          (t) => callback(null, t.token, t.expiresOn - RENEW_BEFORE_EXPIRY_MS),
          (error: Error) => callback(error),
        );
      },
    );
    return transport;
  }
}

/**
 * The pooled transport of one lane. Exported so the benchmark's raw nodemailer baseline is built from the same
 * options and cannot drift from what the product sends with.
 */
export function laneTransportOptions(options: SmtpOptions, mailbox: string): SMTPPool.Options {
  const { host, port, tlsMinVersion } = options;
  return {
    pool: true,
    maxConnections: 1, // one connection per lane; lanes are capped across instances
    maxMessages: 100,
    // No silent re-sends after a dropped connection: each SMTP attempt must be one turn of the rate limit and
    // one recorded attempt; the worker retries (or defers) on its own terms.
    maxRequeues: 0,
    host,
    port,
    secure: false,
    requireTLS: true, // STARTTLS or nothing: AUTH never goes over a plain connection
    tls: { minVersion: tlsMinVersion, servername: options.tlsServername ?? host },
    auth: { type: 'OAuth2', user: mailbox },
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  };
}
