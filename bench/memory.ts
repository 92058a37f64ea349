// Memory and time for one mail with a large attachment (BENCH_ATTACHMENT_MB, default 20). Peak RSS increase over
// the process's settled RSS, per byte of attachment, each side in a fresh process of its own: intake (handler,
// claim check to a blob) and worker (blob → SMTP) separately, as they are separate invocations in Azure; baseline:
// nodemailer sending the same attachment. Peak RSS is the kernel's high-water mark (VmHWM, reset through
// /proc/self/clear_refs), so short peaks are not missed; elsewhere it falls back to sampling.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type Mail from 'nodemailer/lib/mailer';
import { InvocationContext } from '@azure/functions';
import { loadConfig } from '../src/config/load-config';
import { createAppServices, type AppServices } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { newEnvelope } from '../src/mail/envelope';
import { createOutbox } from '../src/mail/outbox';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { createProcessOutboxHandler } from '../src/handlers/process-outbox';
import { startLocalHost } from '../sandbox/functions-host';
import { localFunctions } from '../sandbox/local-functions';
import {
  benchSettings,
  DOMAIN,
  envInt,
  mb,
  median,
  postRequest,
  quietContext,
  rawTransport,
  REPS,
  sleep,
  type BenchContext,
  type BenchResult,
} from './runner';
import { runInChild, serveChild } from './child-process';

const ATTACHMENT_BYTES = envInt('BENCH_ATTACHMENT_MB', 20) * 1024 * 1024;
const MEMORY_QUEUE = 'bench-memory';

type ChildTask =
  | { kind: 'raw'; settings: Record<string, string>; token: string; rep: number }
  | { kind: 'intake'; settings: Record<string, string>; rep: number }
  | { kind: 'worker'; settings: Record<string, string>; id: string };

interface ChildResult {
  peakBytes: number;
  ms: number;
  method: string;
  id?: string;
}

export async function memory(ctx: BenchContext): Promise<BenchResult> {
  const settings = benchSettings(ctx.stack, { MAIL_QUEUE_NAME: MEMORY_QUEUE });
  await provisionStorage(loadConfig(settings), ctx.runtime.storage);
  const mem = { raw: [] as ChildResult[], intake: [] as ChildResult[], worker: [] as ChildResult[] };
  for (let r = 1; r <= REPS; r++) {
    mem.raw.push(await runChild({ kind: 'raw', settings, token: ctx.token, rep: r }));
    const accepted = await runChild({ kind: 'intake', settings, rep: r });
    mem.intake.push(accepted);
    mem.worker.push(await runChild({ kind: 'worker', settings, id: accepted.id! }));
    console.log(
      `  memory ${r}/${REPS}: raw +${mb(mem.raw[r - 1].peakBytes)}, intake +${mb(accepted.peakBytes)}, worker +${mb(mem.worker[r - 1].peakBytes)}`,
    );
  }
  const perByte = (results: ChildResult[]) => median(results.map((r) => r.peakBytes)) / ATTACHMENT_BYTES;
  const [rawMem, intakeMem, workerMem] = [perByte(mem.raw), perByte(mem.intake), perByte(mem.worker)];
  const pipeMem = Math.max(intakeMem, workerMem);
  const rawMs = median(mem.raw.map((r) => r.ms));
  const bigMs = median(mem.intake.map((r) => r.ms)) + median(mem.worker.map((r) => r.ms));
  const RAW = 'raw nodemailer, attachment from a Buffer';
  return {
    rows: [
      {
        measurement: `${mb(ATTACHMENT_BYTES)} attachment: peak RSS increase / attachment size`,
        unit: 'peak RSS/attachment size',
        baseline: { name: RAW, value: rawMem },
        product: { value: pipeMem },
        better: 'lower',
        details: { product: { intake: intakeMem, worker: workerMem } },
      },
      {
        measurement: `${mb(ATTACHMENT_BYTES)} attachment: time`,
        unit: 'ms',
        baseline: { name: RAW, value: rawMs },
        product: { value: bigMs },
        better: 'lower',
        details: { product: { intake: median(mem.intake.map((r) => r.ms)), worker: median(mem.worker.map((r) => r.ms)) } },
      },
    ],
    notes: [
      `memory: peak RSS increase over the settled RSS of a fresh process (${mem.raw[0]?.method ?? '?'}), divided by the attachment size.`,
      `  raw = nodemailer sending the attachment from a Buffer; product = max(intake: handler with the JSON body → status record +`,
      `  payload blob + queue, worker: queue → blob → SMTP), each in its own process; time = intake + worker.`,
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Peak RSS: the kernel's high-water mark when it can be reset, else sampling every 2 ms.

export class PeakRss {
  private base = 0;
  private sampled = 0;
  private timer?: NodeJS.Timeout;
  readonly method: 'VmHWM' | 'sampling';

  constructor() {
    let method: PeakRss['method'] = 'sampling';
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      if (status('VmHWM') !== undefined) method = 'VmHWM';
    } catch {
      /* not Linux, or not allowed */
    }
    this.method = method;
  }

  start(): void {
    if (this.method === 'VmHWM') {
      writeFileSync('/proc/self/clear_refs', '5'); // the high-water mark starts again from the current RSS
      this.base = status('VmRSS')!;
    } else {
      this.base = this.sampled = process.memoryUsage().rss;
      this.timer = setInterval(() => (this.sampled = Math.max(this.sampled, process.memoryUsage().rss)), 2);
    }
  }

  /** Peak RSS above the RSS at start(), bytes. */
  stop(): number {
    if (this.method === 'VmHWM') return status('VmHWM')! - this.base;
    clearInterval(this.timer);
    return Math.max(this.sampled, process.memoryUsage().rss) - this.base;
  }
}

function status(field: 'VmHWM' | 'VmRSS'): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : undefined;
}

export async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The child processes

/** Warm-ups take the large message's path: an attachment big enough for the payload blob. */
const WARM_UP_BYTES = 100 * 1024;
const warmUpMail = (sender: string) => ({ from: sender, to: 'warm@example.com', subject: 'warm-up', text: 'x' });
const warmUpRequest = (sender: string) => ({
  ...warmUpMail(sender),
  attachments: [{ filename: 'warm.bin', contentType: 'application/octet-stream', content: randomBytes(WARM_UP_BYTES).toString('base64') }],
});

/**
 * A worker's warm-up on the path a large message takes (composed blob, streamed to SMTP): a message just big enough,
 * handed straight to the queue function from a queue of its own, so the queue the benchmark measures stays untouched.
 */
export async function warmUpWorker(runtime: AppServices, sender: string): Promise<void> {
  const { config } = runtime;
  const warmId = `warm-${randomUUID()}`;
  const warmQueue = runtime.storage.queues.getQueueClient(`${config.queueName}-warm`);
  await warmQueue.createIfNotExists();
  const warmMail = { ...warmUpRequest(sender), from: sender };
  await createOutbox(warmQueue, runtime.storage.blobs.getContainerClient(config.payloadContainer)).enqueue({
    ...newEnvelope(warmMail, warmId),
    mail: warmMail,
  });
  const [warmItem] = (await warmQueue.receiveMessages()).receivedMessageItems;
  await createProcessOutboxHandler(() => runtime)(
    JSON.parse(Buffer.from(warmItem.messageText, 'base64').toString('utf8')),
    new InvocationContext({ functionName: 'processOutbox', triggerMetadata: { dequeueCount: 1 }, logHandler: () => undefined }),
  );
  await warmQueue.deleteMessage(warmItem.messageId, warmItem.popReceipt);
  if ((await runtime.status.get(warmId))?.record.status !== 'sent') throw new Error('warm-up message was not sent');
}

function attachmentMail(sender: string, rep: number, content: string): Record<string, unknown> {
  return {
    from: sender,
    to: `big-${rep}@example.com`,
    subject: `Large attachment ${rep}`,
    text: 'A large file is attached.',
    attachments: [{ filename: 'large.bin', contentType: 'application/octet-stream', content }],
  };
}

async function child(task: ChildTask): Promise<ChildResult> {
  const peak = new PeakRss();
  const config = loadConfig(task.settings);
  const sender = `bench-mem@${DOMAIN}`;

  if (task.kind === 'raw') {
    const transport = rawTransport(config, sender, task.token, 1);
    await transport.sendMail({ ...warmUpMail(sender), attachments: [{ filename: 'warm.bin', content: randomBytes(WARM_UP_BYTES) }] });
    let attachment: Buffer | undefined = randomBytes(ATTACHMENT_BYTES);
    const message: Mail.Options = {
      from: sender,
      to: `big-${task.rep}@example.com`,
      subject: `Large attachment (raw) ${task.rep}`,
      text: 'A large file is attached.',
      messageId: `<raw-big-${task.rep}-${randomUUID()}@${DOMAIN}>`,
      attachments: [{ filename: 'large.bin', contentType: 'application/octet-stream', content: attachment }],
    };
    // Drop this reference so only the message holds the bytes while the peak is measured.
    // eslint-disable-next-line no-useless-assignment
    attachment = undefined;
    await settle();
    peak.start();
    const t = performance.now();
    await transport.sendMail(message);
    const ms = performance.now() - t;
    const peakBytes = peak.stop();
    transport.close();
    return { peakBytes, ms, method: peak.method };
  }

  const runtime = createAppServices(config);
  try {
    if (task.kind === 'intake') {
      const sendMail = createSendMailHandler(() => runtime);
      const warm = await sendMail(postRequest(JSON.stringify(warmUpRequest(sender))), quietContext('sendMail'));
      if (warm.status !== 202) throw new Error(`warm-up intake answered ${warm.status}`);
      await runtime.storage.queues.getQueueClient(config.queueName).clearMessages(); // the worker process must find only the big one
      // The input, as the host hands it over: the request with its JSON body (the attachment base64-encoded).
      const body = Buffer.from(JSON.stringify(attachmentMail(sender, task.rep, randomBytes(ATTACHMENT_BYTES).toString('base64'))), 'utf8');
      const request = postRequest(body);
      await settle();
      peak.start();
      const t = performance.now();
      const response = await sendMail(request, quietContext('sendMail'));
      const ms = performance.now() - t;
      const peakBytes = peak.stop();
      const id = (response.jsonBody as { id?: string } | undefined)?.id;
      if (response.status !== 202 || !id) throw new Error(`intake answered ${response.status}: ${JSON.stringify(response.jsonBody)}`);
      const record = (await runtime.status.get(id))?.record;
      if (!record?.payloadBlob) throw new Error(`the ${mb(ATTACHMENT_BYTES)} mail did not go through the payload blob`);
      return { peakBytes, ms, method: peak.method, id };
    }

    // Worker: warm up on the large message's path, then let the local host's poller take the big one from the
    // queue, and stop the clock when its status record says sent.
    await warmUpWorker(runtime, sender);
    const errors: string[] = [];
    await settle();
    peak.start();
    const t = performance.now();
    const host = await startLocalHost({
      port: 0,
      http: [],
      queue: localFunctions(runtime).queue,
      settings: runtime.host,
      log: (level, fn, m) => level === 'error' && errors.push(`${fn}: ${m}`),
    });
    let state: string | undefined;
    while (state !== 'sent' && state !== 'failed') {
      await sleep(10);
      state = (await runtime.status.get(task.id))?.record.status;
    }
    const ms = performance.now() - t;
    const peakBytes = peak.stop();
    await host.close();
    if (state !== 'sent') throw new Error(`the big message ended ${state}: ${errors.join('; ')}`);
    return { peakBytes, ms, method: peak.method };
  } finally {
    await runtime.close();
  }
}

const runChild = (task: ChildTask) => runInChild<ChildResult>(__filename, task);

serveChild(module, child);
