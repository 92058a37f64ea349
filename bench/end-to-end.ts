// End to end: N messages from submission until the SMTP server has them all, three ways in the same run.
//   raw       nodemailer, one pool of 3 connections (the product's lane options) and a ready token; no storage.
//   minimal   the hand-written exactly-once pipeline (minimal-pipeline.ts): table insert + queue, then receive →
//             claim → pooled send (3 connections) → record → delete, polled with the host's batch settings.
//   product   sendMail handler (16 at a time) → queue → local host poller → worker with the governor → server.
// Each repetition runs all three, in a rotating order; a fresh sending mailbox per run, so each starts with no
// held connections and no rate state.
import { performance } from 'node:perf_hooks';
import { TableClient } from '@azure/data-tables';
import { createAppServices } from '../src/hosting/app-services';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { startLocalHost } from '../sandbox/functions-host';
import { localFunctions } from '../sandbox/local-functions';
import type { LocalStack } from '../sandbox/stack';
import { minimalPipeline } from './minimal-pipeline';
import {
  BODY_TEXT,
  DOMAIN,
  envInt,
  inParallel,
  median,
  postRequest,
  quietContext,
  rawTransport,
  REPS,
  seconds,
  UNLIMITED_PER_MINUTE,
  waitFor,
  type BenchContext,
  type BenchResult,
  type Figure,
} from './runner';

const N = envInt('BENCH_N', 300);
const PRODUCERS = 16;
const TIMEOUT_MS = 120_000;

type Way = 'raw' | 'minimal' | 'product';

interface Run {
  /** Until the server has every message. */
  serverMs: number;
  /** Until every status record says sent (raw has none). */
  finalMs: number;
}

export async function endToEnd(ctx: BenchContext): Promise<BenchResult> {
  // The product at a rate limit far above the load: this measures its cost, not the limit.
  const runtime = createAppServices({ ...ctx.config, maxMessagesPerMinute: UNLIMITED_PER_MINUTE });
  const hostErrors: string[] = [];
  const deferrals: Record<string, number> = {};
  const host = await startLocalHost({
    port: 0,
    http: [],
    queue: localFunctions(runtime).queue,
    settings: runtime.host,
    log: (level, fn, m) => {
      if (level === 'error') hostErrors.push(`${fn}: ${m}`);
      const deferred = /^Deferred message \S+ for \d+ s \[([\w-]+)\]/.exec(m);
      if (deferred) deferrals[deferred[1]] = (deferrals[deferred[1]] ?? 0) + 1;
    },
  });
  const minimal = await startMinimal(ctx);
  const ways: Record<Way, (label: string, count: number) => Promise<Run>> = {
    raw: (label, count) => raw(ctx, label, count),
    minimal: (label, count) => minimal.run(label, count),
    product: (label, count) => product(ctx, runtime, label, count),
  };
  const runs: Record<Way, Run[]> = { raw: [], minimal: [], product: [] };
  try {
    for (const way of Object.keys(ways) as Way[]) await ways[way](`warm-${way}`, 30);
    const order: Way[] = ['raw', 'minimal', 'product'];
    for (let r = 1; r <= REPS; r++) {
      for (const way of order) runs[way].push(await ways[way](`${way}-${r}`, N));
      order.push(order.shift()!);
      const last = (way: Way) => seconds(runs[way][runs[way].length - 1].serverMs);
      console.log(`  end to end ${r}/${REPS}: raw ${last('raw')}, minimal pipeline ${last('minimal')}, product ${last('product')}`);
    }
    if (hostErrors.length) throw new Error(`the worker logged errors: ${hostErrors.slice(0, 3).join('; ')}`);
  } catch (error) {
    throw hostErrors.length ? new Error(`${(error as Error).message}; the worker logged: ${hostErrors.slice(0, 3).join('; ')}`) : error;
  } finally {
    await host.close();
    minimal.close();
    await runtime.close();
  }

  const ms = (way: Way, key: keyof Run = 'serverMs') => median(runs[way].map((r) => r[key]));
  const MINIMAL = 'minimal exactly-once pipeline';
  const RAW = 'raw nodemailer, pool of 3, ready token';
  const rows: Figure[] = [
    {
      measurement: `end to end: ${N} messages until all are at the server`,
      unit: 'ms',
      baseline: { name: MINIMAL, value: ms('minimal') },
      product: { value: ms('product') },
      better: 'lower',
    },
    {
      measurement: `end to end: throughput, ${N} messages`,
      unit: 'msg/s',
      baseline: { name: MINIMAL, value: N / (ms('minimal') / 1000) },
      product: { value: N / (ms('product') / 1000) },
      better: 'higher',
    },
    {
      measurement: `end to end: ${N} messages until all are at the server`,
      unit: 'ms',
      baseline: { name: RAW, value: ms('raw') },
      product: { value: ms('product') },
      better: 'lower',
    },
    {
      measurement: `end to end: ${N} messages until every record says sent`,
      unit: 'ms',
      baseline: { name: MINIMAL, value: ms('minimal', 'finalMs') },
      product: { value: ms('product', 'finalMs') },
      better: 'lower',
    },
  ];
  const throughput = ms('minimal') / ms('product');
  const deferred =
    Object.entries(deferrals)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  return {
    rows,
    notes: [
      `end to end: product throughput ${throughput.toFixed(2)}× the minimal pipeline's (target ≥ 0.5×: ${throughput >= 0.5 ? 'met' : 'missed'}), ${(ms('raw') / ms('product')).toFixed(2)}× raw nodemailer's; deferrals: ${deferred}.`,
      `  raw = nodemailer, one pool of 3 connections built from the product's lane options, a ready token, all handed over at once.`,
      `  minimal = bench/minimal-pipeline.ts: insert + queue (${PRODUCERS} producers), then receive → claim (etag) → send (pool of 3) → record → delete.`,
      `  product = sendMail handler (${PRODUCERS} at a time) → queue → local host (host.json batch settings) → worker: status record,`,
      `  claim, 3 connection slots as blob leases, rate limit (${UNLIMITED_PER_MINUTE.toLocaleString('en')}/min: paced, its cost does not depend on the limit), send, outcome.`,
    ],
  };
}

async function raw(ctx: BenchContext, label: string, count: number): Promise<Run> {
  const sender = `raw-${label}@${DOMAIN}`;
  const transport = rawTransport(ctx.config, sender, ctx.token, 3);
  const t = performance.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      transport.sendMail({
        from: sender,
        to: `r${i}@example.com`,
        subject: `Raw ${label} ${i}`,
        text: BODY_TEXT,
        messageId: `<raw-${label}-${i}@${DOMAIN}>`,
        date: new Date(),
      }),
    ),
  );
  const ms = performance.now() - t;
  transport.close();
  return { serverMs: ms, finalMs: ms };
}

async function product(ctx: BenchContext, runtime: ReturnType<typeof createAppServices>, label: string, count: number): Promise<Run> {
  const sender = `pipe-${label}@${DOMAIN}`;
  const sendMail = createSendMailHandler(() => runtime);
  const ids = new Set<string>();
  const seenFrom = ctx.stack.smtp.messages.length;
  const errors: string[] = [];
  const t = performance.now();
  await inParallel(count, PRODUCERS, async (i) => {
    const response = await sendMail(
      postRequest(JSON.stringify({ from: sender, to: `p${i}@example.com`, subject: `Pipeline ${label} ${i}`, text: BODY_TEXT })),
      quietContext('sendMail', errors),
    );
    const id = (response.jsonBody as { id?: string } | undefined)?.id;
    if (response.status !== 202 || !id) throw new Error(`intake answered ${response.status}: ${errors.join('; ')}`);
    ids.add(`<${id}@${DOMAIN}>`);
  });
  const serverMs = (await atServer(ctx.stack, ids, seenFrom, label)) - t;
  await waitFor(
    async () => (await countSent(runtime.status.table, `sender eq '${sender}'`)) >= count,
    TIMEOUT_MS,
    () => `product run ${label}: records not all sent`,
    10,
  );
  return { serverMs, finalMs: performance.now() - t };
}

async function startMinimal(ctx: BenchContext) {
  const storage = ctx.runtime.storage;
  const queue = storage.queues.getQueueClient('bench-minimal');
  await queue.createIfNotExists();
  const transport = rawTransport(ctx.config, `minimal@${DOMAIN}`, ctx.token, 3);
  return {
    async run(label: string, count: number): Promise<Run> {
      const table = storage.table(`benchmin${label.replace(/\W/g, '')}`);
      await table.createTable();
      const pipeline = minimalPipeline(queue, table, transport, ctx.runtime.host, DOMAIN);
      const poller = pipeline.start();
      try {
        const ids = new Set(Array.from({ length: count }, (_, i) => `<min-${label}-${i}@${DOMAIN}>`));
        const seenFrom = ctx.stack.smtp.messages.length;
        const t = performance.now();
        await inParallel(count, PRODUCERS, (i) =>
          pipeline.submit(`min-${label}-${i}`, {
            from: `minimal@${DOMAIN}`,
            to: `m${i}@example.com`,
            subject: `Minimal ${label} ${i}`,
            text: BODY_TEXT,
          }),
        );
        const serverMs = (await atServer(ctx.stack, ids, seenFrom, label)) - t;
        await waitFor(
          async () => (await countSent(table)) >= count,
          TIMEOUT_MS,
          () => `minimal run ${label}: records not all sent`,
          10,
        );
        return { serverMs, finalMs: performance.now() - t };
      } finally {
        await poller.stop();
      }
    },
    close: () => transport.close(),
  };
}

/** When the last of `ids` (Message-IDs) reached the server, in performance.now() time. */
async function atServer(stack: LocalStack, ids: Set<string>, seenFrom: number, label: string): Promise<number> {
  let received = 0;
  let lastAt = 0;
  let scanned = seenFrom;
  await waitFor(
    () => {
      const messages = stack.smtp.messages;
      for (; scanned < messages.length; scanned++) {
        if (messages[scanned].messageId && ids.has(messages[scanned].messageId!)) {
          received++;
          lastAt = performance.now();
        }
      }
      return received >= ids.size;
    },
    TIMEOUT_MS,
    () => `run ${label}: ${received}/${ids.size} at the server`,
  );
  return lastAt;
}

async function countSent(table: TableClient, filter?: string): Promise<number> {
  let sent = 0;
  const query = [filter, `status eq 'sent'`].filter(Boolean).join(' and ');
  for await (const _ of table.listEntities({ queryOptions: { filter: query, select: ['status'] } })) sent++;
  return sent;
}
