// One rate-limited mailbox's backlog, as the Functions host scales on it, in real time (not time-scaled): BENCH_SCALING_N
// messages (100) for one mailbox at 30 a minute are queued, then one worker with host.json's queue settings takes them
// for BENCH_SCALING_S seconds (40). Sampled every 100 ms: the invocations the worker holds at once (a message waits in
// process only for a turn within 5 s; a later turn sends it back to the queue), the queue's approximate message count
// (Get Queue Metadata, what the host's target-based scaler reads) and its visible messages (peeked, up to 32). From the
// count, the instances target-based scaling would ask for: ceil(queue length / (batchSize + newBatchThreshold)).
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../src/config/load-config';
import { createAppServices, type AppServices } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { startLocalHost } from '../sandbox/functions-host';
import { localFunctions } from '../sandbox/local-functions';
import { benchSettings, DOMAIN, envInt, mb, postRequest, quietContext, sleep, type BenchContext, type BenchResult } from './runner';

const BACKLOG = envInt('BENCH_SCALING_N', 100);
const SECONDS = envInt('BENCH_SCALING_S', 40);
const PER_MINUTE = 30;
const QUEUE = 'bench-scaling';
/** Get Messages and Peek Messages return at most 32: the visible count is exact up to there. */
const PEEK_MAX = 32;

interface Sample {
  held: number;
  approximate: number;
  visible: number;
  heapBytes: number;
}

export async function scaling(ctx: BenchContext): Promise<BenchResult> {
  const settings = benchSettings(ctx.stack, { MAIL_QUEUE_NAME: QUEUE, MAIL_MAX_MESSAGES_PER_MINUTE: String(PER_MINUTE) });
  const runtime = createAppServices(loadConfig(settings)); // production policy and host.json's queue settings
  try {
    await provisionStorage(runtime.config, runtime.storage);
    const queue = runtime.storage.queues.getQueueClient(QUEUE);
    await queue.clearMessages();
    const sender = `bench-scaling-${randomUUID().slice(0, 8)}@${DOMAIN}`;
    await queueBacklog(runtime, sender);
    const samples = await drain(runtime);
    const sent = ctx.stack.smtp.mailbox(sender).messageTimes.length;
    await queue.clearMessages();

    const { batchSize, newBatchThreshold } = runtime.host;
    const perInstance = batchSize + newBatchThreshold;
    const peak = (pick: (s: Sample) => number) => Math.max(...samples.map(pick));
    const steady = samples.slice(Math.floor(samples.length / 2));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const idleHeap = samples[0].heapBytes;
    const peakHeld = peak((s) => s.held);
    const heapPerHeld = peakHeld ? Math.max(0, peak((s) => s.heapBytes) - idleHeap) / peakHeld : 0;
    const instances = (length: number) => Math.ceil(length / perInstance);
    console.log(
      `  scaling: ${sent} sent in ${SECONDS} s; held at once: peak ${peakHeld}, mean ${mean(steady.map((s) => s.held)).toFixed(1)};` +
        ` queue: approximate peak ${peak((s) => s.approximate)}, visible peak ${peak((s) => s.visible)}`,
    );
    const label = `one mailbox's backlog of ${BACKLOG} at ${PER_MINUTE}/min`;
    return {
      rows: [
        {
          measurement: `${label}: invocations one worker holds at once (steady state, mean)`,
          unit: 'invocations',
          baseline: { name: 'one per waiting message (queue length, mean)', value: mean(steady.map((s) => s.approximate)) },
          product: { value: mean(steady.map((s) => s.held)) },
          better: 'lower',
          details: { product: { peak: peakHeld, [`host's limit (batchSize + newBatchThreshold)`]: perInstance } },
        },
        {
          measurement: `${label}: instances target-based scaling asks for (steady state, mean)`,
          unit: 'instances',
          baseline: { name: 'from visible messages only', value: mean(steady.map((s) => instances(s.visible))) },
          product: { value: mean(steady.map((s) => instances(s.approximate))) },
          better: 'lower',
        },
      ],
      notes: [
        `scaling: ${BACKLOG} messages for one mailbox at ${PER_MINUTE}/min, one worker with host.json's queue settings, ${SECONDS} s in real time`,
        `  (${sent} sent). Target-based scaling divides the queue's approximate message count, which counts the messages`,
        `  deferred to their turn (invisible) as well, by batchSize + newBatchThreshold (${perInstance}) per instance; capped by`,
        `  maximumInstanceCount. Heap per held invocation (peak heap increase / peak held): ${mb(heapPerHeld)}.`,
      ],
    };
  } finally {
    await runtime.close();
  }
}

async function queueBacklog(runtime: AppServices, sender: string): Promise<void> {
  const sendMail = createSendMailHandler(() => runtime);
  for (let i = 0; i < BACKLOG; i++) {
    const body = JSON.stringify({ from: sender, to: `scaling-${i}@example.com`, subject: `Backlog ${i}`, text: 'x' });
    const response = await sendMail(postRequest(body), quietContext('sendMail'));
    if (response.status !== 202) throw new Error(`intake answered ${response.status}: ${JSON.stringify(response.jsonBody)}`);
  }
}

/** Runs one worker on the backlog for SECONDS, sampling what it holds and what the queue reports. */
async function drain(runtime: AppServices): Promise<Sample[]> {
  let held = 0;
  const queueFunctions = localFunctions(runtime).queue.map((fn) =>
    fn.name !== 'processOutbox'
      ? fn
      : {
          ...fn,
          handler: async (...args: Parameters<typeof fn.handler>) => {
            held++;
            try {
              await fn.handler(...args);
            } finally {
              held--;
            }
          },
        },
  );
  if (!queueFunctions.some((fn) => fn.name === 'processOutbox')) throw new Error('no processOutbox queue function');
  const queue = runtime.storage.queues.getQueueClient(QUEUE);
  const samples: Sample[] = [];
  const sample = async () => {
    const [properties, peeked] = await Promise.all([queue.getProperties(), queue.peekMessages({ numberOfMessages: PEEK_MAX })]);
    samples.push({
      held,
      approximate: properties.approximateMessagesCount ?? 0,
      visible: peeked.peekedMessageItems.length,
      heapBytes: process.memoryUsage().heapUsed,
    });
  };
  await sample();
  const host = await startLocalHost({
    port: 0,
    http: [],
    queue: queueFunctions,
    settings: runtime.host,
    log: (level, fn, message) => level === 'error' && console.error(`  scaling: ${fn}: ${message}`),
  });
  try {
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      await sleep(100);
      await sample();
    }
  } finally {
    await host.close();
  }
  return samples;
}
