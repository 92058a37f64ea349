// Soak run: many messages, several worker processes, temporary faults at the SMTP server,
// and then proof that every message went out exactly once and the per-mailbox limits held across processes.
//
//   npm run soak                    2,000 messages, 2 workers, 3 mailboxes at 400/min, ~10 % faults
//   SOAK_MESSAGES=300 SOAK_WORKERS=3 SOAK_RATE=120 SOAK_AUTH_MODE=managedIdentity npm run soak
//
// One local stack in this process (Azurite, token endpoints, the Exchange-like SMTP server), the worker processes
// (dist/sandbox/worker-process.js) forked beside it, intake through the real sendMail handler. The SMTP server
// does not enforce the connection limit itself, so what it counts is what the governor allowed. Exits 1 when any
// check fails; worker logs are kept in .local/soak/.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { AuthMode } from '../src/identity/auth-mode';
import { loadConfig } from '../src/config/load-config';
import { createRuntime, type Runtime } from '../src/runtime';
import { provisionStorage } from '../src/storage/provision';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { startLocalStack, type LocalStack } from '../sandbox/stack';
import { maxInSlidingWindow, type FaultContext } from '../sandbox/smtp-sink';
import type { StatusRecord } from '../src/status/status-store';
import type { WorkerOptions } from '../sandbox/worker-process';
import { APP_ROOT } from '../src/app-root';

const TOTAL = envInt('SOAK_MESSAGES', 2000);
const WORKERS = envInt('SOAK_WORKERS', 2);
const RATE = envInt('SOAK_RATE', 400);
const CAP = envInt('SOAK_CONNECTIONS', 3);
const MODE = (process.env.SOAK_AUTH_MODE ?? 'clientSecret') as AuthMode;
const TIMEOUT_MS = envInt('SOAK_TIMEOUT_S', 900) * 1000;
const MAILBOXES = ['soak-a@contoso.example', 'soak-b@contoso.example', 'soak-c@contoso.example'];
/** Every LARGE_EVERY-th message carries an attachment big enough to go through the payload blob (claim check). */
const LARGE_EVERY = 50;
const INTAKE_CONCURRENCY = 16;
const LOG_DIR = join(APP_ROOT, '.local', 'soak');

function envInt(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1`);
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------------------------------------------
// Faults: ~10 % of the messages meet a temporary failure. Message-bound faults (at DATA) hit a message once, chosen
// by its index (recipient m<index>@example.com); connection-bound ones (AUTH, MAIL FROM) hit every n-th command
// within a budget. What was actually refused is counted from the server's connection log afterwards.

const DATA_BUSY = '451 4.7.500 Server busy. Please try again later.';
const AUTH_LIMIT = '432 4.3.2 Concurrent connections limit exceeded';
const MAIL_CLOSING = '421 4.4.2 Connection dropped due to SocketError';

function indexOf(context: FaultContext): number | undefined {
  for (const address of context.recipients) {
    const match = /^m(\d+)@example\.com$/i.exec(address);
    if (match) return Number(match[1]);
  }
  return undefined;
}

function injectFaults(stack: LocalStack): void {
  const once = (pick: (i: number) => boolean) => {
    const hit = new Set<number>();
    return (context: FaultContext) => {
      const i = indexOf(context);
      if (i === undefined || !pick(i) || hit.has(i)) return false;
      hit.add(i);
      return true;
    };
  };
  const everyNth = (n: number) => {
    let calls = 0;
    return () => ++calls % n === 0;
  };
  const busy = Math.ceil(TOTAL * 0.04);
  const drops = Math.ceil(TOTAL * 0.02);
  const mailFaults = Math.ceil(TOTAL * 0.025);
  const authFaults = Math.ceil(TOTAL * 0.015);
  stack.smtp.inject({ stage: 'data', reply: DATA_BUSY, times: busy, when: once((i) => i % 25 === 5) });
  stack.smtp.inject({ stage: 'dropDuringData', times: drops, when: once((i) => i % 50 === 17) });
  stack.smtp.inject({ stage: 'mail', reply: MAIL_CLOSING, times: mailFaults, when: everyNth(20) });
  stack.smtp.inject({ stage: 'auth', reply: AUTH_LIMIT, times: authFaults, when: everyNth(3) });
}

function faultsSeen(stack: LocalStack): Record<string, number> {
  const seen: Record<string, number> = {
    '451 4.7.500 (DATA)': 0,
    'drop during DATA': 0,
    '421 4.4.2 (MAIL FROM)': 0,
    '432 4.3.2 (AUTH)': 0,
    other: 0,
  };
  for (const connection of stack.smtp.connections) {
    for (const event of connection.events) {
      if (event.ok) continue;
      const reply = event.reply ?? '';
      if (reply.startsWith('451 4.7.500')) seen['451 4.7.500 (DATA)']++;
      else if (reply.includes('dropped during DATA')) seen['drop during DATA']++;
      else if (reply.startsWith('421 4.4.2')) seen['421 4.4.2 (MAIL FROM)']++;
      else if (reply.startsWith('432 4.3.2')) seen['432 4.3.2 (AUTH)']++;
      else seen.other++;
    }
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------------------------
// Worker processes

interface Worker {
  name: string;
  child: ChildProcess;
  log: WriteStream;
  counts: { sent: number; rateDeferred: number; slotDeferred: number; retryDeferred: number; invocationRetries: number; errors: number };
  exited: Promise<number | null>;
  errorTail: string[];
}

async function startWorker(index: number, settings: Record<string, string>): Promise<Worker> {
  const name = `w${index + 1}`;
  const options: WorkerOptions = {
    name,
    log: 'all',
    host: { batchSize: 8, newBatchThreshold: 4, maxDequeueCount: 5, visibilityTimeoutMs: 0, maxPollingIntervalMs: 100 },
    policy: { backoffMs: { firstMs: 500, maxMs: 5_000 }, claimMs: 30_000, quotaDeferMs: 1_000 },
    lanes: { waitMs: 2_000, idleMs: 500 },
    leaseSeconds: 15,
  };
  const child = fork(join(APP_ROOT, 'dist', 'sandbox', 'worker-process.js'), [], {
    env: { ...process.env, WORKER_SETTINGS: JSON.stringify(settings), WORKER_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    execArgv: ['--enable-source-maps'],
  });
  const log = createWriteStream(join(LOG_DIR, `${name}.log`));
  const worker: Worker = {
    name,
    child,
    log,
    counts: { sent: 0, rateDeferred: 0, slotDeferred: 0, retryDeferred: 0, invocationRetries: 0, errors: 0 },
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    errorTail: [],
  };
  const onLine = (line: string) => {
    log.write(`${line}\n`);
    const c = worker.counts;
    if (line.includes('processOutbox: Sent message')) c.sent++;
    else if (line.includes('[rate-limit]')) c.rateDeferred++;
    else if (line.includes('[connection-slots]')) c.slotDeferred++;
    else if (line.includes('Deferred message')) c.retryDeferred++;
    else if (line.includes('Will retry')) c.invocationRetries++;
    if (/ (error|critical) /.test(line)) {
      c.errors++;
      worker.errorTail = [...worker.errorTail, line].slice(-5);
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', (line) => onLine(`stderr: ${line}`));
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { type?: string }) => m.type === 'ready' && resolve());
    void worker.exited.then((code) =>
      reject(new Error(`worker ${name} exited during start (code ${code}); see ${join(LOG_DIR, `${name}.log`)}`)),
    );
  });
  return worker;
}

async function stopWorker(worker: Worker): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 15_000);
  await worker.exited;
  clearTimeout(timer);
  await new Promise((resolve) => worker.log.end(resolve));
}

// ---------------------------------------------------------------------------------------------------------------
// Intake and waiting

function mailFor(i: number): Record<string, unknown> {
  const mail: Record<string, unknown> = {
    from: MAILBOXES[i % MAILBOXES.length],
    to: `m${i}@example.com`,
    subject: `Soak message ${i}`,
    text: `Message ${i} of the soak run.`,
  };
  if (i % 7 === 0) mail.cc = `cc${i}@example.com`;
  if (i % LARGE_EVERY === 0) {
    // ~96 KB: over the 64 KB queue message limit, so it travels through the payload blob.
    mail.attachments = [
      { filename: `data-${i}.bin`, contentType: 'application/octet-stream', content: Buffer.alloc(96 * 1024, i % 256).toString('base64') },
    ];
  }
  return mail;
}

async function submitAll(runtime: Runtime, runId: string): Promise<string[]> {
  const sendMail = createSendMailHandler(() => runtime);
  const ids = new Array<string>(TOTAL);
  let next = 0;
  const problems: string[] = [];
  const one = async (i: number) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (i % 2 === 0) headers['idempotency-key'] = `soak-${runId}-${i}`;
    const request = new HttpRequest({
      method: 'POST',
      url: 'http://localhost:7071/api/mail',
      headers,
      body: { string: JSON.stringify(mailFor(i)) },
    });
    const context = new InvocationContext({
      functionName: 'sendMail',
      logHandler: (level, ...args) => level === 'error' && problems.push(args.join(' ')),
    });
    for (let attempt = 1; ; attempt++) {
      const response = await sendMail(request.clone(), context);
      const body = response.jsonBody as { id?: string } | undefined;
      if (response.status === 202 && body?.id) return (ids[i] = body.id);
      // 503 means nothing was queued and the caller should send again (idempotent with a key); anything else is a bug.
      if (response.status !== 503 || attempt >= 5)
        throw new Error(`intake of message ${i} answered ${response.status}: ${JSON.stringify(response.jsonBody ?? response.body)}`);
      await sleep(200 * attempt);
    }
  };
  await Promise.all(
    Array.from({ length: INTAKE_CONCURRENCY }, async () => {
      while (next < TOTAL) await one(next++);
    }),
  );
  if (problems.length) console.log(`  intake logged ${problems.length} error(s), first: ${problems[0]}`);
  return ids;
}

async function statusRecords(runtime: Runtime): Promise<Map<string, StatusRecord>> {
  const records = new Map<string, StatusRecord>();
  for (const id of await listIds(runtime)) {
    const stored = await runtime.status.get(id);
    if (stored) records.set(id, stored.record);
  }
  return records;
}

async function listIds(runtime: Runtime): Promise<string[]> {
  const ids: string[] = [];
  for await (const entity of runtime.status.table.listEntities({ queryOptions: { select: ['PartitionKey'] } }))
    ids.push(entity.partitionKey!);
  return ids;
}

async function statusCounts(runtime: Runtime): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for await (const entity of runtime.status.table.listEntities<{ status: string }>({ queryOptions: { select: ['status'] } })) {
    counts[entity.status] = (counts[entity.status] ?? 0) + 1;
  }
  return counts;
}

async function queueCount(runtime: Runtime, name: string): Promise<number> {
  return (await runtime.storage.queues.getQueueClient(name).getProperties()).approximateMessagesCount ?? 0;
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  mkdirSync(LOG_DIR, { recursive: true });
  const startedAt = Date.now();
  const stack = await startLocalStack(); // no connection cap at the server: it counts what the governor allowed
  const workers: Worker[] = [];
  let runtime: Runtime | undefined;
  try {
    // One tenant: the soak's mailboxes are all contoso.example's, so the stack's second sender profile is left out.
    const { MAIL_SENDER_PROFILES: _profiles, ...stackSettings } = stack.settings(MODE);
    const settings = {
      ...stackSettings,
      MAIL_ALLOWED_SENDERS: '@contoso.example',
      MAIL_DEFAULT_SENDER: MAILBOXES[0],
      MAIL_MAX_CONNECTIONS_PER_MAILBOX: String(CAP),
      MAIL_MAX_MESSAGES_PER_MINUTE: String(RATE),
    };
    const config = loadConfig(settings);
    runtime = createRuntime(config);
    await provisionStorage(config, runtime.storage);
    injectFaults(stack);
    for (let i = 0; i < WORKERS; i++) workers.push(await startWorker(i, settings));
    console.log(
      `Soak: ${TOTAL} messages from ${MAILBOXES.length} mailboxes (${MAILBOXES.join(', ')}), ${WORKERS} worker processes (pids ${workers.map((w) => w.child.pid).join(', ')}), ` +
        `auth ${MODE}, limits ${CAP} connections and ${RATE} messages/min per mailbox, stack up in ${seconds(Date.now() - startedAt)}.`,
    );

    const runId = randomUUID().slice(0, 8);
    const t0 = Date.now();
    const ids = await submitAll(runtime, runId);
    const intakeMs = Date.now() - t0;
    console.log(
      `  intake: ${TOTAL} accepted in ${seconds(intakeMs)} (${((TOTAL / intakeMs) * 1000).toFixed(0)}/s) through the sendMail handler`,
    );

    // Until every status record is final.
    let lastProgress = Date.now();
    let counts = await statusCounts(runtime);
    while ((counts.sent ?? 0) + (counts.failed ?? 0) < TOTAL) {
      if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`not all final after ${seconds(TIMEOUT_MS)}: ${JSON.stringify(counts)}`);
      if (workers.some((w) => w.child.exitCode !== null))
        throw new Error(`a worker exited: ${workers.map((w) => `${w.name}=${w.child.exitCode}`).join(' ')}`);
      if (Date.now() - lastProgress >= 15_000) {
        lastProgress = Date.now();
        console.log(`  ${seconds(Date.now() - t0).padStart(7)}: ${JSON.stringify(counts)}, server received ${stack.smtp.messages.length}`);
      }
      await sleep(1000);
      counts = await statusCounts(runtime);
    }
    const finalMs = Date.now() - t0;
    const lastReceived = Math.max(...stack.smtp.messages.map((m) => m.receivedAt));
    console.log(`  all ${TOTAL} status records final after ${seconds(finalMs)}: ${JSON.stringify(counts)}`);

    // Let the last queue messages settle (a final message's copy is deleted after its invocation returns), then stop.
    const outbox = config.queueName;
    const settleUntil = Date.now() + 30_000;
    while ((await queueCount(runtime, outbox)) > 0 && Date.now() < settleUntil) await sleep(250);
    await sleep(2_000); // a late duplicate, if any, would arrive now
    await Promise.all(workers.map(stopWorker));

    return await verify({ stack, runtime, ids, counts, t0, intakeMs, finalMs, lastReceived, workers });
  } finally {
    await Promise.all(workers.map((w) => stopWorker(w).catch(() => undefined)));
    await runtime?.close();
    await stack.stop();
  }
}

interface Outcome {
  stack: LocalStack;
  runtime: Runtime;
  ids: string[];
  counts: Record<string, number>;
  t0: number;
  intakeMs: number;
  finalMs: number;
  lastReceived: number;
  workers: Worker[];
}

async function verify(o: Outcome): Promise<number> {
  const { stack, runtime } = o;
  const violations: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) violations.push(what);
    return ok ? 'ok' : 'VIOLATION';
  };
  const lines: string[] = [];
  const out = (line = '') => lines.push(line);

  // Exactly once, by Message-ID at the server.
  const expected = new Map(o.ids.map((id, i) => [`<${id}@contoso.example>`, i]));
  const received = new Map<string, number>();
  for (const m of stack.smtp.messages) received.set(m.messageId ?? '(none)', (received.get(m.messageId ?? '(none)') ?? 0) + 1);
  const missing = [...expected.keys()].filter((id) => !received.has(id));
  const duplicates = [...received].filter(([, n]) => n > 1);
  const unexpected = [...received.keys()].filter((id) => !expected.has(id));
  const wrongSender = stack.smtp.messages.filter((m) => {
    const i = expected.get(m.messageId ?? '');
    return i !== undefined && m.mailbox !== MAILBOXES[i % MAILBOXES.length];
  });

  // Status records.
  const records = await statusRecords(runtime);
  const notSent = o.ids.filter((id) => records.get(id)?.status !== 'sent');
  const wrongMessageId = o.ids.filter(
    (id) => records.get(id)?.status === 'sent' && records.get(id)?.smtpMessageId !== `<${id}@contoso.example>`,
  );
  const attempts = [...records.values()].reduce((sum, r) => sum + r.attempts, 0);
  const retried = [...records.values()].filter((r) => r.attempts > 1).length;

  // Storage left behind.
  const outboxLeft = await queueCount(runtime, runtime.config.queueName);
  const poisonLeft = await queueCount(runtime, `${runtime.config.queueName}-poison`);
  let payloadsLeft = 0;
  for await (const _blob of runtime.storage.blobs.getContainerClient(runtime.config.payloadContainer).listBlobsFlat()) payloadsLeft++;

  const faults = faultsSeen(stack);
  const faultTotal = Object.values(faults).reduce((a, b) => a + b, 0);
  const connections = stack.smtp.connections.filter((c) => c.mailbox).length;
  const sendMs = o.lastReceived - o.t0;

  out(`SOAK REPORT  ${new Date().toISOString()}`);
  out(
    `  setup        ${TOTAL} messages, ${MAILBOXES.length} mailboxes, ${o.workers.length} worker processes, auth ${MODE}, cap ${CAP} connections and ${RATE}/min per mailbox`,
  );
  out(
    `  duration     intake ${seconds(o.intakeMs)}, last message at the server after ${seconds(sendMs)}, all records final after ${seconds(o.finalMs)}`,
  );
  out(
    `  throughput   ${((TOTAL / sendMs) * 60_000).toFixed(0)} messages/min averaged over the run, all mailboxes (limit: ${RATE} per mailbox in any sliding 60 s)`,
  );
  out(
    `  faults       ${faultTotal} injected (${((faultTotal / TOTAL) * 100).toFixed(1)} % of messages): ${Object.entries(faults)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  );
  out(`  smtp         ${stack.smtp.messages.length} messages received over ${connections} authenticated connections`);
  out(`  attempts     ${attempts} SMTP attempts recorded for ${records.size} messages; ${retried} messages needed more than one`);
  out(
    `  workers      ${o.workers.map((w) => `${w.name}: sent ${w.counts.sent}, rate-limit deferrals ${w.counts.rateDeferred}, slot deferrals ${w.counts.slotDeferred}, retry deferrals ${w.counts.retryDeferred}, invocation retries ${w.counts.invocationRetries}, error lines ${w.counts.errors}`).join('\n               ')}`,
  );
  out();
  out(`  per mailbox                 received   max connections (cap ${CAP})   max in any 60 s (limit ${RATE})`);
  for (const mailbox of MAILBOXES) {
    const stats = stack.smtp.mailbox(mailbox);
    const perMinute = maxInSlidingWindow(stats.messageTimes);
    const c = check(stats.maxConnections <= CAP, `${mailbox}: ${stats.maxConnections} concurrent connections > ${CAP}`);
    const r = check(perMinute <= RATE, `${mailbox}: ${perMinute} messages within 60 s > ${RATE}`);
    out(
      `  ${mailbox.padEnd(26)} ${String(stats.messageTimes.length).padStart(8)}   ${String(stats.maxConnections).padStart(3)} ${c.padEnd(24)} ${String(perMinute).padStart(5)} ${r}`,
    );
  }
  out();
  out(`  checks`);
  out(
    `    every message at the server exactly once   missing ${missing.length}, duplicates ${duplicates.length}, unexpected ${unexpected.length}  ${check(
      missing.length === 0 && duplicates.length === 0 && unexpected.length === 0,
      `exactly once: missing ${missing.slice(0, 5).join(' ')} duplicates ${duplicates
        .slice(0, 5)
        .map(([id, n]) => `${id}×${n}`)
        .join(' ')} unexpected ${unexpected.slice(0, 5).join(' ')}`,
    )}`,
  );
  out(
    `    sent by the mailbox of its From            wrong ${wrongSender.length}  ${check(wrongSender.length === 0, `${wrongSender.length} messages sent by another mailbox`)}`,
  );
  out(
    `    every status record "sent"                 ${o.ids.length - notSent.length}/${o.ids.length}  ${check(
      notSent.length === 0,
      `not sent: ${notSent
        .slice(0, 5)
        .map((id) => `${id}=${records.get(id)?.status}/${records.get(id)?.errorCategory}`)
        .join(' ')}`,
    )}`,
  );
  out(
    `    status smtpMessageId matches               wrong ${wrongMessageId.length}  ${check(wrongMessageId.length === 0, `smtpMessageId wrong for ${wrongMessageId.slice(0, 5).join(' ')}`)}`,
  );
  out(
    `    outbox queue empty                         ${outboxLeft}  ${check(outboxLeft === 0, `${outboxLeft} messages left in the outbox queue`)}`,
  );
  out(
    `    poison queue empty                         ${poisonLeft}  ${check(poisonLeft === 0, `${poisonLeft} messages in the poison queue`)}`,
  );
  out(
    `    ${`no payload blobs left (${Math.ceil(TOTAL / LARGE_EVERY)} used)`.padEnd(43)}${payloadsLeft}  ${check(payloadsLeft === 0, `${payloadsLeft} payload blobs left`)}`,
  );
  out(
    `    workers exited cleanly                     ${o.workers.map((w) => w.child.exitCode).join(', ')}  ${check(
      o.workers.every((w) => w.child.exitCode === 0),
      'a worker did not exit with 0',
    )}`,
  );
  // The run tests the limiter only if more was asked of a mailbox than its limit allows and the server saw traffic
  // near the limit (the exact peak varies from run to run). The limiter mostly says "wait" by pacing sends in the
  // worker rather than deferring them, so what was asked is measured at intake: messages accepted per mailbox and
  // minute; deferrals for the rate limit count too.
  const rateDeferrals = o.workers.reduce((sum, w) => sum + w.counts.rateDeferred, 0);
  const askedPerMinute = TOTAL / MAILBOXES.length / (o.intakeMs / 60_000);
  const nearLimit = MAILBOXES.some((m) => maxInSlidingWindow(stack.smtp.mailbox(m).messageTimes) >= RATE * 0.8);
  const engaged = (rateDeferrals > 0 || askedPerMinute > RATE) && nearLimit;
  out(
    `    limiter engaged (${askedPerMinute.toFixed(0)}/min asked, ${rateDeferrals} deferrals, peak ≥ 80 %)`.padEnd(47) +
      ` ${check(engaged || TOTAL / MAILBOXES.length < RATE, 'the rate limiter never came near its limit: the run did not test it')}`,
  );
  out();
  out(violations.length === 0 ? 'RESULT: PASS' : `RESULT: FAIL (${violations.length})\n  - ${violations.join('\n  - ')}`);
  for (const w of o.workers) if (w.errorTail.length) out(`  last error lines of ${w.name}:\n    ${w.errorTail.join('\n    ')}`);
  out(`  worker logs: ${LOG_DIR}`);

  const report = lines.join('\n');
  console.log(`\n${report}`);
  writeFileSync(join(LOG_DIR, 'report.txt'), `${report}\n`);
  return violations.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`Soak run failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
