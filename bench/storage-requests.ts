// Storage requests per sent message: a burst of messages through counting proxies in front of Azurite, one for
// intake and one for the worker, so each request is attributed to the side that made it. The product runs with
// production settings (host.json, default lanes, the highest rate limit the setting allows); the baseline is the
// minimal exactly-once pipeline through the same kind of proxies. Everything the worker does for the burst is
// counted, empty polls and connection-slot leases included, until its lanes are given back.
import { QueueServiceClient } from '@azure/storage-queue';
import { TableClient } from '@azure/data-tables';
import type { MailConfig } from '../src/config/load-config';
import { createAppServices, type AppServices } from '../src/hosting/app-services';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { startLocalHost } from '../sandbox/functions-host';
import { localFunctions } from '../sandbox/local-functions';
import { startCountingProxy, SERVICES, type Counts, type CountingProxy } from './counting-proxy';
import { minimalPipeline } from './minimal-pipeline';
import {
  BODY_TEXT,
  DOMAIN,
  envInt,
  inParallel,
  postRequest,
  quietContext,
  rawTransport,
  waitFor,
  type BenchContext,
  type BenchResult,
  type Figure,
} from './runner';

const BURST = envInt('BENCH_BURST', 100);
const PRODUCERS = 16;
const TIMEOUT_MS = 120_000;

type Side = 'intake' | 'worker';
type Tally = Record<Side, Counts> & {
  /** What the worker did besides sending once: deferrals by reason, copies put back, invocations retried. */
  events?: Record<string, number>;
};

export async function storageRequests(ctx: BenchContext): Promise<BenchResult> {
  const proxies = { intake: await startCountingProxy(ctx.stack.azurite), worker: await startCountingProxy(ctx.stack.azurite) };
  try {
    const plain = await productBurst(ctx, proxies, 'plain', false);
    const keyed = await productBurst(ctx, proxies, 'keyed', true);
    const minimal = await minimalBurst(ctx, proxies);
    const per = (tally: Tally, side?: Side, service?: (typeof SERVICES)[number]) => total(tally, side, service) / BURST;
    const f = (x: number) => x.toFixed(2);
    const MINIMAL = 'minimal exactly-once pipeline';
    const bySide = (tally: Tally) => ({ intake: per(tally, 'intake'), worker: per(tally, 'worker') });
    const byService = (tally: Tally, side: Side) => Object.fromEntries(SERVICES.map((service) => [service, per(tally, side, service)]));
    const rows: Figure[] = [
      {
        measurement: `storage requests per sent message (burst of ${BURST})`,
        unit: 'requests/message',
        baseline: { name: MINIMAL, value: per(minimal) },
        product: { value: per(plain) },
        better: 'lower',
        details: { baseline: bySide(minimal), product: bySide(plain) },
      },
      ...(['intake', 'worker'] as const).map((side): Figure => ({
        measurement: `storage requests per sent message: ${side}`,
        unit: 'requests/message',
        baseline: { name: MINIMAL, value: per(minimal, side) },
        product: { value: per(plain, side) },
        better: 'lower',
        details: { baseline: byService(minimal, side), product: byService(plain, side) },
      })),
      {
        measurement: `storage requests per sent message, an Idempotency-Key on every request`,
        unit: 'requests/message',
        baseline: { name: MINIMAL, value: per(minimal) },
        product: { value: per(keyed) },
        better: 'lower',
        details: { baseline: bySide(minimal), product: bySide(keyed) },
      },
    ];
    return {
      rows,
      notes: [
        `storage requests: ${f(per(plain))} per sent message (target ≤ 8: ${per(plain) <= 8 ? 'met' : 'missed'}; ${f(per(keyed))} with Idempotency-Keys); by operation, per message:`,
        ...breakdown(plain),
        `  worker events besides one send per message: ${eventsOf(plain)}; with keys: ${eventsOf(keyed)}`,
        `  minimal pipeline: ${breakdown(minimal)
          .map((l) => l.trim())
          .join('; ')}`,
      ],
    };
  } finally {
    await proxies.intake.close();
    await proxies.worker.close();
  }
}

async function productBurst(ctx: BenchContext, proxies: Record<Side, CountingProxy>, label: string, keyed: boolean): Promise<Tally> {
  const through = (proxy: CountingProxy): MailConfig => ({ ...ctx.config, storage: { connectionString: proxy.connectionString } });
  const intake = createAppServices(through(proxies.intake));
  const worker = createAppServices(through(proxies.worker));
  const errors: string[] = [];
  const events: Record<string, number> = {};
  const note = (event: string) => (events[event] = (events[event] ?? 0) + 1);
  const host = await startLocalHost({
    port: 0,
    http: [],
    queue: localFunctions(worker).queue,
    settings: worker.host,
    log: (level, fn, m) => {
      if (level === 'error') errors.push(`${fn}: ${m}`);
      const deferred = /^Deferred message \S+ for \d+ s \[([\w-]+)\]/.exec(m);
      if (deferred) note(`deferred ${deferred[1]}`);
      else if (m.includes('is being sent by another worker')) note('copy put back');
      else if (m.startsWith('Invocation failed')) note('invocation retried');
    },
  });
  try {
    await Promise.all([intake.tokens.getToken(), worker.tokens.getToken()]); // token requests are not storage requests, but keep them out of the burst
    proxies.intake.reset();
    proxies.worker.reset();
    const sender = `count-${label}-${Date.now()}@${DOMAIN}`;
    const sendMail = createSendMailHandler(() => intake);
    const ids: string[] = [];
    await inParallel(BURST, PRODUCERS, async (i) => {
      const request = postRequest(JSON.stringify({ from: sender, to: `c${i}@example.com`, subject: `Count ${i}`, text: BODY_TEXT }));
      if (keyed) request.headers.set('idempotency-key', `${label}-${sender}-${i}`);
      const response = await sendMail(request, quietContext('sendMail', errors));
      const id = (response.jsonBody as { id?: string } | undefined)?.id;
      if (response.status !== 202 || !id) throw new Error(`intake answered ${response.status}: ${errors.join('; ')}`);
      ids.push(id);
    });
    // Watched through the benchmark's own clients, which the proxies do not see.
    const pending = [...ids];
    await waitFor(
      () => allSent(ctx.runtime, pending),
      TIMEOUT_MS,
      () => `burst ${label}: not all sent`,
      20,
    );
  } finally {
    await host.close();
    await worker.close(); // gives the connection slots back: part of the burst's cost
    await intake.close();
  }
  if (errors.length) throw new Error(`burst ${label}: ${errors.slice(0, 3).join('; ')}`);
  return { intake: proxies.intake.counts(), worker: proxies.worker.counts(), events };
}

function eventsOf(tally: Tally): string {
  return (
    Object.entries(tally.events ?? {})
      .map(([event, n]) => `${event} ${n}`)
      .join(', ') || 'none'
  );
}

/** True once every id's record says sent; the ids found sent are taken out, so each poll reads only the rest. */
async function allSent(runtime: AppServices, ids: string[]): Promise<boolean> {
  while (ids.length > 0) {
    if ((await runtime.status.get(ids[ids.length - 1]))?.record.status !== 'sent') return false;
    ids.pop();
  }
  return true;
}

async function minimalBurst(ctx: BenchContext, proxies: Record<Side, CountingProxy>): Promise<Tally> {
  const name = `countmin${Date.now()}`;
  await ctx.runtime.storage.table(name).createTable();
  await ctx.runtime.storage.queues.getQueueClient(name).create();
  const clients = (proxy: CountingProxy) => ({
    queue: QueueServiceClient.fromConnectionString(proxy.connectionString).getQueueClient(name),
    table: TableClient.fromConnectionString(proxy.connectionString, name, { allowInsecureConnection: true }),
  });
  const transport = rawTransport(ctx.config, `minimal@${DOMAIN}`, ctx.token, 3);
  const producer = minimalPipeline(clients(proxies.intake).queue, clients(proxies.intake).table, transport, ctx.runtime.host, DOMAIN);
  const consumer = minimalPipeline(clients(proxies.worker).queue, clients(proxies.worker).table, transport, ctx.runtime.host, DOMAIN);
  proxies.intake.reset();
  proxies.worker.reset();
  const poller = consumer.start();
  try {
    await inParallel(BURST, PRODUCERS, (i) =>
      producer.submit(`cm-${i}`, { from: `minimal@${DOMAIN}`, to: `c${i}@example.com`, subject: `Count ${i}`, text: BODY_TEXT }),
    );
    const table = ctx.runtime.storage.table(name);
    await waitFor(
      async () => {
        let sent = 0;
        for await (const _ of table.listEntities({ queryOptions: { filter: `status eq 'sent'`, select: ['status'] } })) sent++;
        return sent >= BURST;
      },
      TIMEOUT_MS,
      () => 'minimal burst: not all sent',
      20,
    );
  } finally {
    await poller.stop();
    transport.close();
  }
  return { intake: proxies.intake.counts(), worker: proxies.worker.counts() };
}

function total(tally: Tally, side?: Side, service?: (typeof SERVICES)[number]): number {
  let sum = 0;
  for (const s of side ? [side] : (['intake', 'worker'] as const)) {
    for (const svc of service ? [service] : SERVICES) sum += Object.values(tally[s][svc]).reduce((a, b) => a + b, 0);
  }
  return sum;
}

function breakdown(tally: Tally): string[] {
  return (['intake', 'worker'] as const).map((side) => {
    const parts = SERVICES.flatMap((service) =>
      Object.entries(tally[side][service])
        .sort(([, a], [, b]) => b - a)
        .map(([operation, n]) => `${service} ${operation} ${(n / BURST).toFixed(2)}`),
    );
    return `  ${side}: ${parts.join(', ') || 'none'}`;
  });
}
