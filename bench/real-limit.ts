// One mailbox at Exchange's real limit, time-scaled as test/pacing.test.ts does: 30 messages and 3 connections per
// window, the window a tenth of Exchange's minute (BENCH_PACED_WINDOW_MS, 6 s) and so the time a send is assumed to
// take (100 ms); the wait in process stays 2 s, as the queue's visibility is in whole seconds. A backlog is posted at
// once through intake and sent by the local Functions host with production queue settings, through counting proxies
// in front of Azurite (intake and worker apart), to the Exchange-like SMTP server, which records when each message
// arrives. For each backlog (BENCH_PACED_BACKLOG, 100, and BENCH_PACED_LARGE_BACKLOG, 1,000): deferrals per message
// (the worker's queue puts: each time a message goes back to the queue), storage requests per sent message by service, the pace at the server
// against the limit and the most messages in any sliding window. The issue's figures from before the schedule of
// turns (measured at 30/min against Postfix) are the baselines of the first two, named as such: not from this run.
import type { MailConfig } from '../src/config/load-config';
import { loadConfig } from '../src/config/load-config';
import { createAppServices, type AppServices } from '../src/hosting/app-services';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { startLocalHost } from '../sandbox/functions-host';
import { localFunctions } from '../sandbox/local-functions';
import { maxInSlidingWindow } from '../sandbox/smtp-sink';
import { startCountingProxy, SERVICES, type Counts, type CountingProxy } from './counting-proxy';
import {
  BODY_TEXT,
  DOMAIN,
  envInt,
  inParallel,
  postRequest,
  quietContext,
  waitFor,
  type BenchContext,
  type BenchResult,
  type Figure,
} from './runner';

const LIMIT = 30;
const CONNECTIONS = 3;
const WINDOW_MS = envInt('BENCH_PACED_WINDOW_MS', 6_000);
const BACKLOGS = [envInt('BENCH_PACED_BACKLOG', 100), envInt('BENCH_PACED_LARGE_BACKLOG', 1_000)];
const PRODUCERS = 16;

/** The issue's figures before the schedule of turns, at 30/min against Postfix. */
const BEFORE = {
  deferrals: { name: "before (issue's figure: 75 at once)", value: 34 },
  requests: { name: "before (issue's figure: 60 at once)", value: 196 },
  pace: 0.9,
};

interface Run {
  backlog: number;
  /** Messages the worker put back on the queue (its queue puts: a deferral is a new copy with a delay). */
  deferrals: number;
  /** The worker's log lines about going back to the queue, by the reason they name. */
  reasons: Record<string, number>;
  intake: Counts;
  worker: Counts;
  times: number[];
}

export async function realLimit(ctx: BenchContext): Promise<BenchResult> {
  const config = loadConfig({
    ...ctx.settings,
    MAIL_MAX_MESSAGES_PER_MINUTE: String(LIMIT),
    MAIL_MAX_CONNECTIONS_PER_MAILBOX: String(CONNECTIONS),
  });
  const proxies = { intake: await startCountingProxy(ctx.stack.azurite), worker: await startCountingProxy(ctx.stack.azurite) };
  const runs: Run[] = [];
  try {
    for (const backlog of BACKLOGS) runs.push(await pacedBacklog(ctx, config, proxies, backlog));
  } finally {
    await proxies.intake.close();
    await proxies.worker.close();
  }
  const rows: Figure[] = [];
  const notes: string[] = [
    `real limit: ${LIMIT} per ${WINDOW_MS / 1000} s window (Exchange's 30/min time-scaled), ${CONNECTIONS} connections, one mailbox; ` +
      `the issue's figures before the schedule of turns: ${BEFORE.deferrals.value} deferrals per message, ${BEFORE.requests.value} storage requests per sent message (backlog 60), ${BEFORE.pace}× the limit.`,
  ];
  for (const run of runs) {
    const n = run.backlog;
    const per = (side: 'intake' | 'worker' | undefined, service?: (typeof SERVICES)[number]) => total(run, side, service) / n;
    const byService = Object.fromEntries(SERVICES.map((service) => [service, per(undefined, service)]));
    const span = Math.max(...run.times) - Math.min(...run.times);
    const pace = ((run.times.length - 1) / span) * WINDOW_MS;
    const peak = maxInSlidingWindow(run.times, WINDOW_MS);
    const limit = { name: `the limit (${LIMIT} per window)`, value: LIMIT };
    rows.push(
      {
        measurement: `deferrals per message at ${LIMIT}/window (backlog ${n})`,
        unit: 'deferrals/message',
        baseline: BEFORE.deferrals,
        product: { value: run.deferrals / n },
        better: 'lower',
      },
      {
        measurement: `storage requests per sent message at ${LIMIT}/window (backlog ${n})`,
        unit: 'requests/message',
        baseline: BEFORE.requests,
        product: { value: per(undefined) },
        better: 'lower',
        details: { product: byService },
      },
      {
        measurement: `pace at the server (backlog ${n})`,
        unit: 'messages/window',
        baseline: limit,
        product: { value: pace },
        better: 'higher',
      },
      {
        measurement: `most messages in any sliding window at the server (backlog ${n}; must be ≤ the limit)`,
        unit: 'messages/window',
        baseline: limit,
        product: { value: peak },
        better: 'lower',
      },
    );
    notes.push(
      `  backlog ${n}: ${run.times.length} received, ${(run.deferrals / n).toFixed(2)} deferrals per message (log lines: ${reasonsOf(run)}); ` +
        `${per(undefined).toFixed(2)} storage requests per sent message (intake ${per('intake').toFixed(2)}, worker ${per('worker').toFixed(2)}; ` +
        `${SERVICES.map((s) => `${s} ${byService[s].toFixed(2)}`).join(', ')}); pace ${(pace / LIMIT).toFixed(3)}× the limit over ${(span / 1000).toFixed(1)} s ` +
        `(before: ${BEFORE.pace}×); peak ${peak} in a sliding ${WINDOW_MS / 1000} s (${peak <= LIMIT ? 'within' : 'OVER'} the limit ${LIMIT})`,
    );
  }
  return { rows, notes };
}

async function pacedBacklog(
  ctx: BenchContext,
  config: MailConfig,
  proxies: Record<'intake' | 'worker', CountingProxy>,
  backlog: number,
): Promise<Run> {
  const through = (proxy: CountingProxy): MailConfig => ({ ...config, storage: { connectionString: proxy.connectionString } });
  const pace = { windowMs: WINDOW_MS, assumedSendMs: WINDOW_MS / 60 };
  const intake = createAppServices(through(proxies.intake), { pace });
  const worker = createAppServices(through(proxies.worker), { pace, policy: { maxTurnWaitMs: 2_000 } });
  const errors: string[] = [];
  const reasons: Record<string, number> = {};
  const host = await startLocalHost({
    port: 0,
    http: [],
    queue: localFunctions(worker).queue,
    settings: ctx.runtime.host, // host.json's queue settings
    log: (level, fn, m) => {
      if (level === 'error') errors.push(`${fn}: ${m}`);
      // Every way a message goes back to the queue: its turn ahead, a deferral with a reason, a hold, a retry.
      const reason = /waits for its turn .*\[([\w, -]+)\]/.exec(m)?.[1] ?? /^(?:Deferred|Held) message \S+ .*\[([\w-]+)\]/.exec(m)?.[1];
      if (reason !== undefined || /Will retry/.test(m)) {
        const key = reason ?? 'retry';
        reasons[key] = (reasons[key] ?? 0) + 1;
      }
    },
  });
  const sender = `paced-${backlog}-${Date.now()}@${DOMAIN}`;
  try {
    await Promise.all([intake.tokens.getToken(), worker.tokens.getToken()]); // token requests stay out of the counts
    proxies.intake.reset();
    proxies.worker.reset();
    const sendMail = createSendMailHandler(() => intake);
    const ids: string[] = [];
    await inParallel(backlog, PRODUCERS, async (i) => {
      const request = postRequest(JSON.stringify({ from: sender, to: `p${i}@example.com`, subject: `Paced ${i}`, text: BODY_TEXT }));
      const response = await sendMail(request, quietContext('sendMail', errors));
      const id = (response.jsonBody as { id?: string } | undefined)?.id;
      if (response.status !== 202 || !id) throw new Error(`intake answered ${response.status}: ${errors.join('; ')}`);
      ids.push(id);
    });
    // Twice the time the limit allows, and a minute more: bounded however loaded the machine.
    const timeoutMs = (backlog / LIMIT) * WINDOW_MS * 2 + 60_000;
    const pending = [...ids];
    await waitFor(
      () => allSent(ctx.runtime, pending),
      timeoutMs,
      () => `backlog ${backlog}: ${backlog - pending.length} of ${backlog} sent`,
      200,
    );
  } finally {
    await host.close();
    await worker.close(); // gives the connection slots back: part of the backlog's cost
    await intake.close();
  }
  if (errors.length) throw new Error(`backlog ${backlog}: ${errors.slice(0, 3).join('; ')}`);
  const times = ctx.stack.smtp.mailbox(sender).messageTimes;
  if (times.length !== backlog) throw new Error(`backlog ${backlog}: the server received ${times.length} messages`);
  const counts = { intake: proxies.intake.counts(), worker: proxies.worker.counts() };
  return { backlog, deferrals: counts.worker.queue.put ?? 0, reasons, ...counts, times };
}

/** True once every id's record says sent; the ids found sent are taken out, so each poll reads only the rest. */
async function allSent(runtime: AppServices, ids: string[]): Promise<boolean> {
  while (ids.length > 0) {
    if ((await runtime.status.get(ids[ids.length - 1]))?.record.status !== 'sent') return false;
    ids.pop();
  }
  return true;
}

function total(run: Run, side?: 'intake' | 'worker', service?: (typeof SERVICES)[number]): number {
  let sum = 0;
  for (const s of side ? [side] : (['intake', 'worker'] as const)) {
    for (const svc of service ? [service] : SERVICES) sum += Object.values(run[s][svc]).reduce((a, b) => a + b, 0);
  }
  return sum;
}

function reasonsOf(run: Run): string {
  return (
    Object.entries(run.reasons)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ') || 'none'
  );
}
