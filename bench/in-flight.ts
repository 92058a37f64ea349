// Large messages in flight at once within one instance: BENCH_IN_FLIGHT_N messages (12; host.json allows up to 48:
// batchSize 32 plus newBatchThreshold 16) with a BENCH_IN_FLIGHT_MB attachment each (25 MB: a message of about 34 MB, just under
// Exchange Online's 35 MB), each from its own mailbox so every one has an SMTP connection at the same time. Intake
// queues them first; then a fresh worker process takes them all from the queue through the local Functions host,
// and its peak RSS increase is measured until every record is final. Baseline: raw nodemailer sending the same
// messages at once from Buffers in a fresh process. Both sides are judged against a 2 GB Flex Consumption instance.
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load-config';
import { createAppServices } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { startLocalHost } from '../sandbox/functions-host';
import { localFunctions } from '../sandbox/local-functions';
import { PeakRss, settle, warmUpWorker } from './memory';
import {
  benchSettings,
  DOMAIN,
  envInt,
  mb,
  postRequest,
  quietContext,
  rawTransport,
  sleep,
  type BenchContext,
  type BenchResult,
} from './runner';
import { runInChild, serveChild } from './child-process';

const COUNT = envInt('BENCH_IN_FLIGHT_N', 12);
const ATTACHMENT_BYTES = envInt('BENCH_IN_FLIGHT_MB', 25) * 1024 * 1024;
const QUEUE = 'bench-in-flight';
/** The memory of a Flex Consumption instance of the default size. */
const INSTANCE_BYTES = 2048 * 1024 * 1024;

const senderOf = (i: number) => `bench-flight-${i}@${DOMAIN}`;

type ChildTask =
  { kind: 'raw'; settings: Record<string, string>; token: string } | { kind: 'worker'; settings: Record<string, string>; ids: string[] };

interface ChildResult {
  peakBytes: number;
  ms: number;
  /** Most records in "sending" at one time (worker). */
  concurrent?: number;
}

export async function inFlight(ctx: BenchContext): Promise<BenchResult> {
  const settings = benchSettings(ctx.stack, { MAIL_QUEUE_NAME: QUEUE });
  const config = loadConfig(settings);
  const runtime = createAppServices(config);
  let ids: string[];
  let messageBytes: number;
  try {
    await provisionStorage(config, runtime.storage);
    ({ ids, messageBytes } = await queueLargeMessages(runtime));
  } finally {
    await runtime.close();
  }
  const raw = await runChild({ kind: 'raw', settings, token: ctx.token });
  console.log(`  in-flight: raw ${COUNT} × ${mb(messageBytes)} at once: +${mb(raw.peakBytes)} in ${(raw.ms / 1000).toFixed(1)} s`);
  const worker = await runChild({ kind: 'worker', settings, ids });
  console.log(
    `  in-flight: worker ${COUNT} × ${mb(messageBytes)}, ${worker.concurrent} sending at once: +${mb(worker.peakBytes)} in ${(worker.ms / 1000).toFixed(1)} s`,
  );
  const RAW = `raw nodemailer, ${COUNT} at once from Buffers`;
  const label = `${COUNT} × ${mb(messageBytes)} messages in flight in one worker`;
  return {
    rows: [
      {
        measurement: `${label}: peak RSS increase`,
        unit: 'bytes',
        baseline: { name: RAW, value: raw.peakBytes },
        product: { value: worker.peakBytes },
        better: 'lower',
        details: { baseline: { 'all messages': COUNT * messageBytes }, product: { 'all messages': COUNT * messageBytes } },
      },
      {
        measurement: `${label}: peak RSS increase, share of an instance`,
        unit: 'share of a 2 GB instance',
        baseline: { name: RAW, value: raw.peakBytes / INSTANCE_BYTES },
        product: { value: worker.peakBytes / INSTANCE_BYTES },
        better: 'lower',
      },
    ],
    notes: [
      `in-flight: ${COUNT} messages of ${mb(messageBytes)} (a ${mb(ATTACHMENT_BYTES)} attachment each), each from its own mailbox; the worker`,
      `  had ${worker.concurrent} of them in "sending" at once. Peak RSS increase of a fresh process over its settled RSS, and that`,
      `  as a share of a 2 GB Flex Consumption instance.`,
    ],
  };
}

/** Queues the large messages through the intake handler; returns their ids and the size of one composed message. */
async function queueLargeMessages(runtime: ReturnType<typeof createAppServices>): Promise<{ ids: string[]; messageBytes: number }> {
  const sendMail = createSendMailHandler(() => runtime);
  const queue = runtime.storage.queues.getQueueClient(runtime.config.queueName);
  await queue.clearMessages();
  const ids: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const body = JSON.stringify(largeMail(i, randomBytes(ATTACHMENT_BYTES).toString('base64')));
    const response = await sendMail(postRequest(body), quietContext('sendMail'));
    const id = (response.jsonBody as { id?: string } | undefined)?.id;
    if (response.status !== 202 || !id) throw new Error(`intake answered ${response.status}: ${JSON.stringify(response.jsonBody)}`);
    ids.push(id);
  }
  const record = (await runtime.status.get(ids[0]))!.record;
  if (!record.payloadBlob?.endsWith('.eml')) throw new Error('the large message was not composed into a blob');
  const properties = await runtime.storage.blobs
    .getContainerClient(runtime.config.payloadContainer)
    .getBlockBlobClient(record.payloadBlob)
    .getProperties();
  return { ids, messageBytes: properties.contentLength ?? 0 };
}

function largeMail(i: number, content: string) {
  return {
    from: senderOf(i),
    to: `flight-${i}@example.com`,
    subject: `Large message in flight ${i}`,
    text: 'A large file is attached.',
    attachments: [{ filename: 'large.bin', contentType: 'application/octet-stream', content }],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The child processes

async function child(task: ChildTask): Promise<ChildResult> {
  const peak = new PeakRss();
  const config = loadConfig(task.settings);

  if (task.kind === 'raw') {
    const transports = Array.from({ length: COUNT }, (_, i) => rawTransport(config, senderOf(i), task.token, 1));
    await Promise.all(transports.map((t, i) => t.sendMail({ from: senderOf(i), to: 'warm@example.com', subject: 'warm-up', text: 'x' })));
    const messages = transports.map((_, i) => ({
      ...largeMail(i, ''),
      messageId: `<raw-flight-${i}-${randomUUID()}@${DOMAIN}>`,
      attachments: [{ filename: 'large.bin', contentType: 'application/octet-stream', content: randomBytes(ATTACHMENT_BYTES) }],
    }));
    await settle();
    peak.start();
    const t = performance.now();
    await Promise.all(transports.map((transport, i) => transport.sendMail(messages[i])));
    const ms = performance.now() - t;
    const peakBytes = peak.stop();
    transports.forEach((transport) => transport.close());
    return { peakBytes, ms };
  }

  const runtime = createAppServices(config);
  try {
    await warmUpWorker(runtime, senderOf(0));
    const errors: string[] = [];
    await settle();
    peak.start();
    const t = performance.now();
    const host = await startLocalHost({
      port: 0,
      http: [],
      queue: localFunctions(runtime).queue,
      // All of them in one batch: the instance at its most, host.json's batchSize plus newBatchThreshold in flight.
      settings: { ...runtime.host, batchSize: COUNT },
      log: (level, fn, m) => level === 'error' && errors.push(`${fn}: ${m}`),
    });
    let concurrent = 0;
    let states: string[] = [];
    while (!states.length || states.some((s) => s !== 'sent' && s !== 'failed')) {
      await sleep(20);
      states = await Promise.all(task.ids.map(async (id) => (await runtime.status.get(id))?.record.status ?? 'unknown'));
      concurrent = Math.max(concurrent, states.filter((s) => s === 'sending').length);
    }
    const ms = performance.now() - t;
    const peakBytes = peak.stop();
    await host.close();
    if (states.some((s) => s !== 'sent')) throw new Error(`not every message was sent (${states.join(', ')}): ${errors.join('; ')}`);
    return { peakBytes, ms, concurrent };
  } finally {
    await runtime.close();
  }
}

const runChild = (task: ChildTask) => runInChild<ChildResult>(__filename, task);

serveChild(module, child);
