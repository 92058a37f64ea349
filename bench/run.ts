// Benchmarks (npm run bench). Every number is a RATIO against a raw baseline measured in the same run on the same
// machine, against the same local servers: absolute times depend on the machine, the ratios say what the product
// adds. Nothing is written to disk; the table goes to stdout.
//
//   1. end to end    N messages: sendMail handler → Azurite queue → local host poller → worker (governor, token,
//                    status records) → SMTP server, until the server has all N; baseline: nodemailer with a pooled
//                    transport of 3 connections and a ready token sending the same N messages straight to the server.
//   2. intake        one request through acceptMail (parse, validate, status record, enqueue, record update), one at a
//                    time; baseline: queueClient.sendMessage of the same envelope, as a producer writing the queue would.
//   3. memory/time   one mail with a 20 MB attachment. Peak RSS increase over the process's settled RSS, per byte of
//                    attachment, each side in a fresh process of its own: intake (handler, claim check to a blob) and
//                    worker (blob → SMTP) as separate processes, as they are separate invocations in Azure; baseline:
//                    nodemailer sending the same attachment. Peak RSS is the kernel's high-water mark (VmHWM, reset
//                    through /proc/self/clear_refs), so short peaks are not missed; elsewhere it falls back to sampling.
//
// Sizes can be changed for a quick look: BENCH_N (default 300), BENCH_INTAKE_N (300), BENCH_ATTACHMENT_MB (20),
// BENCH_REPS (3). The median of the repetitions is reported; repetitions alternate baseline and product.
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { loadConfig, type MailConfig } from '../src/config';
import { functionKeyCaller } from '../src/callers/sender-policy';
import { createRuntime, type Runtime } from '../src/runtime';
import { provisionStorage } from '../src/storage/provision';
import { createOutbox, encodeQueueMessage } from '../src/storage/outbox';
import { createStatusStore } from '../src/status/status-store';
import { acceptMail } from '../src/intake/accept-mail';
import { newEnvelope } from '../src/mail/envelope';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { createProcessOutboxHandler } from '../src/handlers/process-outbox';
import { startLocalStack, type LocalStack } from '../src/local/stack';
import { startLocalHost } from '../src/local/functions-host';
import { localFunctions } from '../src/local/local-functions';

const N = envInt('BENCH_N', 300);
const INTAKE_N = envInt('BENCH_INTAKE_N', 300);
const ATTACHMENT_BYTES = envInt('BENCH_ATTACHMENT_MB', 20) * 1024 * 1024;
const REPS = envInt('BENCH_REPS', 3);
const DOMAIN = 'contoso.example';
const MEMORY_QUEUE = 'bench-memory';
const BODY_TEXT = 'Benchmark message body. '.repeat(40); // ~1 KB

function envInt(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1`);
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function rawTransport(host: string, port: number, user: string, accessToken: string, maxConnections: number) {
  // The same connection settings as the product's SmtpSender, without governor, status records or queue.
  return nodemailer.createTransport({
    pool: true,
    maxConnections,
    maxMessages: 100,
    host,
    port,
    secure: false,
    requireTLS: true,
    tls: { minVersion: 'TLSv1.2', servername: host },
    auth: { type: 'OAuth2', user, accessToken },
  });
}

function benchSettings(stack: LocalStack, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...stack.settings('clientSecret'),
    MAIL_ALLOWED_SENDERS: `@${DOMAIN}`,
    MAIL_DEFAULT_SENDER: `bench@${DOMAIN}`,
    MAIL_MAX_CONNECTIONS_PER_MAILBOX: '3',
    MAIL_MAX_MESSAGES_PER_MINUTE: '10000', // governor limits far above what the run sends: measure the cost, not the limit
    ...extra,
  };
}

function postRequest(body: Buffer | string): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'http://localhost:7071/api/mail',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? { string: body } : { bytes: body },
  });
}

const quietContext = (name: string, errors: string[] = []) =>
  new InvocationContext({ functionName: name, logHandler: (level, ...args) => level === 'error' && errors.push(args.map(String).join(' ')) });

// ---------------------------------------------------------------------------------------------------------------
// Peak RSS: the kernel's high-water mark when it can be reset, else sampling every 2 ms.

class PeakRss {
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

async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes for the memory measurement

type ChildTask =
  | { kind: 'raw'; settings: Record<string, string>; token: string; rep: number }
  | { kind: 'intake'; settings: Record<string, string>; rep: number }
  | { kind: 'worker'; settings: Record<string, string>; id: string };

interface ChildResult {
  peakBytes: number;
  ms: number;
  method: string;
  id?: string;
  error?: string;
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
    const transport = rawTransport(config.smtp.host, config.smtp.port, sender, task.token, 1);
    await transport.sendMail({ from: sender, to: 'warm@example.com', subject: 'warm-up', text: 'x' });
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

  const runtime = createRuntime(config);
  try {
    if (task.kind === 'intake') {
      const sendMail = createSendMailHandler(() => runtime);
      const warm = await sendMail(postRequest(JSON.stringify({ to: 'warm@example.com', subject: 'warm-up', text: 'x' })), quietContext('sendMail'));
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
      if (!record?.payloadBlob) throw new Error('the 20 MB mail did not go through the payload blob');
      return { peakBytes, ms, method: peak.method, id };
    }

    // Worker: warm up on a small message handed straight to the queue function, then let the local host's poller
    // take the big one from the queue, and stop the clock when its status record says sent.
    const processOutbox = createProcessOutboxHandler(() => runtime);
    const warmId = `warm-${randomUUID()}`;
    await processOutbox(newEnvelope({ from: sender, to: 'warm@example.com', subject: 'warm-up', text: 'x' }, warmId), new InvocationContext({ functionName: 'processOutbox', triggerMetadata: { dequeueCount: 1 }, logHandler: () => undefined }));
    if ((await runtime.status.get(warmId))?.record.status !== 'sent') throw new Error('warm-up message was not sent');
    const errors: string[] = [];
    await settle();
    peak.start();
    const t = performance.now();
    const host = await startLocalHost({ port: 0, http: [], queue: localFunctions(runtime).queue, settings: runtime.host, log: (level, fn, m) => level === 'error' && errors.push(`${fn}: ${m}`) });
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

function runChild(task: ChildTask): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const proc = fork(__filename, ['--child'], {
      env: { ...process.env, BENCH_CHILD: JSON.stringify(task) },
      execArgv: ['--expose-gc', '--enable-source-maps'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ChildResult | undefined;
    proc.on('message', (m: ChildResult) => (result = m));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (result?.error) reject(new Error(`${task.kind} process: ${result.error}`));
      else if (result && code === 0) resolve(result);
      else reject(new Error(`${task.kind} process exited with ${code} and no result`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 1. End to end

interface E2eRun {
  rawMs: number;
  pipelineMs: number;
  pipelineFinalMs: number;
}

async function endToEnd(stack: LocalStack, runtime: Runtime, token: string, label: string, count: number): Promise<E2eRun> {
  const { host: smtpHost, port } = runtime.config.smtp;
  // Raw: one pool of 3 connections, all messages handed over at once; the pool queues them.
  const rawSender = `raw-${label}@${DOMAIN}`;
  const transport = rawTransport(smtpHost, port, rawSender, token, 3);
  let t = performance.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      transport.sendMail({ from: rawSender, to: `r${i}@example.com`, subject: `Raw ${label} ${i}`, text: BODY_TEXT, messageId: `<raw-${label}-${i}@${DOMAIN}>`, date: new Date() }),
    ),
  );
  const rawMs = performance.now() - t;
  transport.close();

  // Pipeline: a fresh sending mailbox per run, so each starts with an empty rate log and no held connections.
  const sender = `pipe-${label}@${DOMAIN}`;
  const sendMail = createSendMailHandler(() => runtime);
  const ids = new Set<string>();
  const seenFrom = stack.smtp.messages.length;
  const errors: string[] = [];
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        const response = await sendMail(postRequest(JSON.stringify({ from: sender, to: `p${i}@example.com`, subject: `Pipeline ${label} ${i}`, text: BODY_TEXT })), quietContext('sendMail', errors));
        const id = (response.jsonBody as { id?: string } | undefined)?.id;
        if (response.status !== 202 || !id) throw new Error(`intake answered ${response.status}: ${errors.join('; ')}`);
        ids.add(`<${id}@${DOMAIN}>`);
      }
    }),
  );
  const deadline = Date.now() + 120_000;
  let received = 0;
  let lastAt = 0;
  for (let scanned = seenFrom; received < count; ) {
    const messages = stack.smtp.messages;
    for (; scanned < messages.length; scanned++) {
      const m = messages[scanned];
      if (m.messageId && ids.has(m.messageId)) {
        received++;
        lastAt = performance.now();
      }
    }
    if (received < count) {
      if (Date.now() > deadline) throw new Error(`pipeline run ${label}: ${received}/${count} at the server after 120 s`);
      await sleep(5);
    }
  }
  const pipelineMs = lastAt - t;
  // When the last status record said "sent" (coarse: polled once the server has them all).
  for (;;) {
    let sent = 0;
    for await (const _ of runtime.status.table.listEntities({ queryOptions: { filter: `sender eq '${sender}' and status eq 'sent'`, select: ['status'] } })) sent++;
    if (sent >= count) break;
    if (Date.now() > deadline) throw new Error(`pipeline run ${label}: only ${sent}/${count} records sent`);
    await sleep(10);
  }
  return { rawMs, pipelineMs, pipelineFinalMs: performance.now() - t };
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Intake

async function intake(runtime: Runtime, config: MailConfig): Promise<{ raw: number[]; product: number[] }> {
  const queues = runtime.storage.queues;
  const intakeQueue = queues.getQueueClient('bench-intake');
  const rawQueue = queues.getQueueClient('bench-raw');
  const table = runtime.storage.table('benchintake');
  await Promise.all([intakeQueue.createIfNotExists(), rawQueue.createIfNotExists(), table.createTable()]);
  const deps = { config, outbox: createOutbox(intakeQueue, runtime.storage.blobs.getContainerClient(config.payloadContainer)), status: createStatusStore(table) };
  const mail = { from: `bench@${DOMAIN}`, to: 'someone@example.com', subject: 'Intake benchmark', text: BODY_TEXT };
  const body = Buffer.from(JSON.stringify(mail), 'utf8');

  const product = async () => {
    const result = await acceptMail({ contentType: 'application/json', body, idempotencyKey: null, caller: functionKeyCaller(config) }, deps);
    if (result.status !== 202) throw new Error(`acceptMail answered ${result.status}`);
  };
  // The same envelope the product puts on the queue, written straight to it.
  const raw = async () => void (await rawQueue.sendMessage(encodeQueueMessage(newEnvelope(mail))));

  const times = { raw: [] as number[], product: [] as number[] };
  const block = async (fn: () => Promise<void>, into?: number[]) => {
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await fn();
      into?.push(performance.now() - t);
    }
  };
  await block(raw);
  await block(product); // warm-up
  while (times.product.length < INTAKE_N) {
    await block(raw, times.raw);
    await block(product, times.product);
  }
  return times;
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await startLocalStack();
  const settings = benchSettings(stack);
  const config = loadConfig(settings);
  const runtime = createRuntime(config); // production settings: host.json queue settings, default lanes and policy
  try {
    await provisionStorage(config, runtime.storage);
    const token = (await runtime.tokens.getToken()).token;
    console.log(`Benchmark: node ${process.version}, ${(await import('node:os')).cpus().length} CPUs; local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s.`);

    // 2. Intake (first, while nothing else runs).
    const it = await intake(runtime, config);
    console.log(`  intake: ${it.product.length} requests each way`);

    // 1. End to end, with the local host polling the outbox.
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
    await endToEnd(stack, runtime, token, 'warm', 30);
    const runs: E2eRun[] = [];
    for (let r = 1; r <= REPS; r++) {
      runs.push(await endToEnd(stack, runtime, token, String(r), N));
      const last = runs[runs.length - 1];
      const deferred = Object.entries(deferrals).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
      console.log(`  end to end ${r}/${REPS}: raw ${(last.rawMs / 1000).toFixed(2)} s, pipeline ${(last.pipelineMs / 1000).toFixed(2)} s; deferrals so far: ${deferred}`);
    }
    await host.close();
    if (hostErrors.length) throw new Error(`the worker logged errors: ${hostErrors.slice(0, 3).join('; ')}`);

    // 3. Memory and time for one large attachment, each side in a process of its own.
    const memorySettings = benchSettings(stack, { MAIL_QUEUE_NAME: MEMORY_QUEUE });
    await provisionStorage(loadConfig(memorySettings), runtime.storage);
    const mem = { raw: [] as ChildResult[], intake: [] as ChildResult[], worker: [] as ChildResult[] };
    for (let r = 1; r <= REPS; r++) {
      mem.raw.push(await runChild({ kind: 'raw', settings: memorySettings, token, rep: r }));
      const accepted = await runChild({ kind: 'intake', settings: memorySettings, rep: r });
      mem.intake.push(accepted);
      mem.worker.push(await runChild({ kind: 'worker', settings: memorySettings, id: accepted.id! }));
      console.log(`  memory ${r}/${REPS}: raw +${mb(mem.raw[r - 1].peakBytes)}, intake +${mb(accepted.peakBytes)}, worker +${mb(mem.worker[r - 1].peakBytes)}`);
    }

    report(it, runs, mem, Date.now() - started);
  } finally {
    await runtime.close();
    await stack.stop();
  }
}

function report(it: { raw: number[]; product: number[] }, runs: E2eRun[], mem: Record<'raw' | 'intake' | 'worker', ChildResult[]>, totalMs: number): void {
  const rawMs = median(runs.map((r) => r.rawMs));
  const pipeMs = median(runs.map((r) => r.pipelineMs));
  const finalMs = median(runs.map((r) => r.pipelineFinalMs));
  const rawIntake = median(it.raw);
  const productIntake = median(it.product);
  const perByte = (results: ChildResult[]) => median(results.map((r) => r.peakBytes)) / ATTACHMENT_BYTES;
  const rawMem = perByte(mem.raw);
  const intakeMem = perByte(mem.intake);
  const workerMem = perByte(mem.worker);
  const pipeMem = Math.max(intakeMem, workerMem);
  const rawBigMs = median(mem.raw.map((r) => r.ms));
  const bigMs = median(mem.intake.map((r) => r.ms)) + median(mem.worker.map((r) => r.ms));
  const x = (ratio: number) => `×${ratio.toFixed(2)}`;
  const rows: Array<[string, string, string, string]> = [
    [`1  end to end, ${N} messages (to the server)`, `${(rawMs / 1000).toFixed(2)} s  ${(N / (rawMs / 1000)).toFixed(0)} msg/s`, `${(pipeMs / 1000).toFixed(2)} s  ${(N / (pipeMs / 1000)).toFixed(0)} msg/s`, x(pipeMs / rawMs)],
    [`   … until every status record is "sent"`, '', `${(finalMs / 1000).toFixed(2)} s`, x(finalMs / rawMs)],
    [`2  intake, per request (median)`, `${rawIntake.toFixed(2)} ms`, `${productIntake.toFixed(2)} ms`, x(productIntake / rawIntake)],
    [`   intake, per request (p95)`, `${percentile(it.raw, 0.95).toFixed(2)} ms`, `${percentile(it.product, 0.95).toFixed(2)} ms`, x(percentile(it.product, 0.95) / percentile(it.raw, 0.95))],
    [`3  ${mb(ATTACHMENT_BYTES)} attachment: peak RSS / size`, rawMem.toFixed(2), `${pipeMem.toFixed(2)} (intake ${intakeMem.toFixed(2)}, worker ${workerMem.toFixed(2)})`, x(pipeMem / rawMem)],
    [`   ${mb(ATTACHMENT_BYTES)} attachment: time`, `${(rawBigMs / 1000).toFixed(2)} s`, `${(bigMs / 1000).toFixed(2)} s`, x(bigMs / rawBigMs)],
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...[['measurement', 'baseline (raw)', 'product', 'product/raw'], ...rows].map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c])).join('   ');
  console.log(`
BENCHMARK  ${new Date().toISOString()}  (medians of ${REPS} runs; ratios product/raw, lower is better; took ${(totalMs / 1000).toFixed(0)} s)
${line(['measurement', 'baseline (raw)', 'product', 'product/raw'])}
${widths.map((w) => '-'.repeat(w)).join('   ')}
${rows.map(line).join('\n')}

1  raw = nodemailer, pooled transport of 3 connections and a ready token, all ${N} handed over at once, to the same SMTP server.
   product = sendMail handler (16 at a time) → Azurite queue → local host poller (host.json: batch 8 + 4) → worker with
   the governor (3 connection slots as blob leases, rate log; limits set far above the load) → the same server.
2  raw = queueClient.sendMessage of the same envelope; product = acceptMail (validate, status record, enqueue,
   record update). One request at a time, ${INTAKE_N} each, blocks of 50 alternating.
3  peak RSS increase over the settled RSS of a fresh process (${mem.raw[0]?.method ?? '?'}), divided by the attachment size.
   raw = nodemailer sending the attachment from a Buffer; product = max(intake: handler with the JSON body →
   status record + payload blob + queue, worker: queue → blob → SMTP), each in its own process; time = intake + worker.`);
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.env.BENCH_CHILD!) as ChildTask).then(
    (result) => process.send!(result, () => process.exit(0)),
    (error: Error) => process.send!({ peakBytes: 0, ms: 0, method: '', error: error.stack ?? String(error) }, () => process.exit(1)),
  );
} else {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`Benchmark failed: ${(error as Error).stack ?? error}`);
      process.exit(1);
    },
  );
}
