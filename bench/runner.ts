// What every benchmark shares: sizes from the environment, statistics, the settings that point the product at the
// local stack, the raw nodemailer baseline built from the product's own lane options. The rows and tables of the
// report are in report.ts.
import nodemailer from 'nodemailer';
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { MailConfig } from '../src/config/load-config';
import type { LocalStack } from '../sandbox/stack';
import type { AppServices } from '../src/hosting/app-services';
import { laneTransportOptions } from '../src/smtp/smtp-sender';
import { envInt } from './report';

export { envInt, median, type BenchResult, type Figure } from './report';

export const DOMAIN = 'contoso.example';
export const BODY_TEXT = 'Benchmark message body. '.repeat(40); // ~1 KB

export const REPS = envInt('BENCH_REPS', 3);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** What a benchmark gets: the local stack and one product runtime on it, with production settings. */
export interface BenchContext {
  stack: LocalStack;
  settings: Record<string, string>;
  config: MailConfig;
  runtime: AppServices;
  /** A ready token, for the raw baselines. */
  token: string;
}

export function benchSettings(stack: LocalStack, extra: Record<string, string> = {}): Record<string, string> {
  // One tenant: every benchmark sends from contoso.example, so the stack's second sender profile is left out, and
  // with it the delivery reports the stack reads for both tenants' mailboxes (no benchmark measures them).
  const { MAIL_SENDER_PROFILES: _profiles, MAIL_REPORTS_MAILBOXES: _reports, ...settings } = stack.settings('clientSecret');
  return {
    ...settings,
    MAIL_ALLOWED_SENDERS: `@${DOMAIN}`,
    MAIL_DEFAULT_SENDER: `bench@${DOMAIN}`,
    MAIL_MAX_CONNECTIONS_PER_MAILBOX: '3',
    MAIL_MAX_MESSAGES_PER_MINUTE: '10000',
    ...extra,
  };
}

/**
 * The rate limit the throughput runs use: above the setting's range (10,000/min). The limiter paces sends evenly
 * (one every minute / limit), so at 10,000/min it would cap one mailbox at about 166 msg/s and the run would measure
 * the limit, not the product's cost; its storage cost does not depend on the limit (see test/governor.test.ts).
 */
export const UNLIMITED_PER_MINUTE = 1_000_000;

/** Raw nodemailer: the product's own lane options with a ready token and `maxConnections` in one pool. */
export function rawTransport(config: MailConfig, user: string, accessToken: string, maxConnections: number) {
  return nodemailer.createTransport({
    ...laneTransportOptions(config.smtp, user),
    maxConnections,
    auth: { type: 'OAuth2', user, accessToken },
  });
}

export function postRequest(body: Buffer | string): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'http://localhost:7071/api/mail',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? { string: body } : { bytes: body },
  });
}

export const quietContext = (name: string, errors: string[] = []) =>
  new InvocationContext({
    functionName: name,
    logHandler: (level, ...args) => level === 'error' && errors.push(args.map(String).join(' ')),
  });

/** Runs `task(i)` for i in 0..count-1, `parallel` at a time. */
export async function inParallel(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** Resolves once `done()` holds, polling; fails after `timeoutMs` with what `progress()` says. */
export async function waitFor(
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  progress: () => string,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs / 1000} s: ${progress()}`);
    await sleep(everyMs);
  }
}
