// The cold path as a whole (npm run bench -- cold-path): lazy loading moved import cost from start-up to the first
// request, so what a caller waits for at a cold instance is process start → the first answer. Two figures, each against
// the eager baseline measured in the same run:
//   process start → first 202 from POST /api/mail    a fresh worker whose first invocation is the intake
//   process start → first message handed to SMTP     a fresh worker whose first invocation is a queued message
// The worker is the deployment package (staged as cold-start.ts does) loaded the way the Functions Node.js worker
// loads it: "@azure/functions-core" provided through Module.prototype.require, every file of package.json's "main"
// imported, the appStart hooks run, then the programming model asked for its capabilities (with HTTP streaming on it
// starts its request proxy). Eager: the same, then every chunk of the bundle imported before the worker says it is
// ready, as if nothing were loaded lazily. This process plays the host: once the worker is ready it invokes the
// function through the programming model's invocation model over IPC, as the host does over gRPC, and sends the HTTP
// request to the worker's proxy with the invocation id, as the host forwards it; for the queue it receives the
// message from Azurite and hands it over. The worker reaches the local stack for real: Azurite, the token endpoint
// (a fresh process gets its first token) and the Exchange-like SMTP server over STARTTLS.
//
// Each figure is the median of BENCH_COLD_PATH_N (5) fresh processes per side, the sides taking turns, after one
// warm-up round; every worker is ended before the next starts.
import { fork, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../src/config/load-config';
import { createAppServices, type AppServices } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { createSendMailHandler } from '../src/handlers/send-mail';
import { stageDeploymentPackage } from './cold-start';
import {
  BODY_TEXT,
  DOMAIN,
  envInt,
  median,
  postRequest,
  quietContext,
  sleep,
  waitFor,
  type BenchContext,
  type BenchResult,
  type Figure,
} from './runner';

const RUNS = envInt('BENCH_COLD_PATH_N', 5);
/** Its own queue, so the one message a queue round hands over is the only one there. */
const QUEUE = 'cold-path-outbox';
/** A mailbox per process: a killed worker's connection leases last their 30 s, and the next worker must not wait on them. */
const sender = () => `cold-path-${randomUUID().slice(0, 8)}@${DOMAIN}`;

// The worker: loads the package as the Functions Node.js worker does, says ready with the proxy's address, then runs
// each invocation it is sent through the programming model (getArguments, invokeFunction, getResponse).
const WORKER = `
const Module = require('node:module');
const path = require('node:path');
const { readdirSync, readFileSync } = require('node:fs');
const { pathToFileURL } = require('node:url');
const [mode, root] = process.argv.slice(2);
const registrations = new Map();
const hooks = [];
let model;
const core = {
  version: '3.0.0', hostVersion: '4.0.0', log: () => {},
  getProgrammingModel: () => model, setProgrammingModel: (m) => { model = m; },
  registerFunction: (metadata, callback) => (registrations.set(metadata.name, { metadata, callback }), { dispose() {} }),
  registerHook: (name, callback) => (hooks.push({ name, callback }), { dispose() {} }),
};
Module.prototype.require = new Proxy(Module.prototype.require, {
  apply: (target, self, args) => (args[0] === '@azure/functions-core' ? core : Reflect.apply(target, self, args)),
});
console.log = () => {};
const fail = (error) => process.send({ type: 'error', message: String((error && error.stack) || error) }, () => process.exit(1));
(async () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const load = (file) => (pkg.type === 'module' ? import(pathToFileURL(file).href) : require(file));
  const dir = path.join(root, path.dirname(pkg.main));
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) await load(path.join(dir, file));
  for (const hook of hooks.filter((h) => h.name === 'appStart')) await hook.callback({ hookData: {}, appHookData: {}, functionAppDirectory: root });
  if (mode === 'eager') for (const file of readdirSync(path.join(root, 'dist/src')).filter((f) => f.endsWith('.js'))) await load(path.join(root, 'dist/src', file));
  const capabilities = await model.getCapabilities({});
  process.on('message', (invocation) => {
    (async () => {
      const { metadata, callback } = registrations.get(invocation.functionName);
      const trigger = Object.entries(metadata.bindings).find(([, b]) => b.direction === 'in' && /Trigger$/.test(b.type))[0];
      const request = { triggerMetadata: invocation.triggerMetadata, inputData: [{ name: trigger, data: invocation.data }] };
      const invocationModel = model.getInvocationModel({ invocationId: invocation.invocationId, metadata, request, log: () => {}, state: undefined });
      const { context, inputs } = await invocationModel.getArguments();
      const result = await invocationModel.invokeFunction(context, inputs, callback);
      await invocationModel.getResponse(context, result);
      process.send({ type: 'done', invocationId: invocation.invocationId });
    })().catch(fail);
  });
  process.send({ type: 'ready', httpUri: capabilities.HttpUri });
})().catch(fail);
`;

type Mode = 'lazy' | 'eager';
type Path = 'http' | 'queue';

interface Worker {
  child: ChildProcess;
  ready: Promise<{ httpUri: string }>;
  done: Promise<void>;
  exited: Promise<void>;
}

function startWorker(file: string, pkg: string, mode: Mode, settings: Record<string, string>): Worker {
  const env: NodeJS.ProcessEnv = { ...process.env, ...settings };
  // NODE_EXTRA_CA_CERTS stays: the worker reaches the local token endpoint and SMTP server over TLS.
  for (const name of ['NODE_OPTIONS', 'NODE_PATH', 'MAIL_CALLERS', 'APPLICATIONINSIGHTS_CONNECTION_STRING']) delete env[name];
  const child = fork(file, [mode, pkg], { cwd: pkg, env, execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const message = (type: string) =>
    new Promise<{ httpUri: string }>((resolve, reject) => {
      child.on('message', (m: { type: string; httpUri: string; message?: string }) => {
        if (m.type === type) resolve(m);
        if (m.type === 'error') reject(new Error(`worker (${mode}): ${m.message}`));
      });
      void exited.then(() => reject(new Error(`worker (${mode}) exited (${child.exitCode ?? child.signalCode}): ${stderr}`)));
    });
  const ready = message('ready');
  const done = message('done').then(() => undefined);
  // Unhandled until awaited: a rejection after the run's end must not end this process.
  ready.catch(() => undefined);
  done.catch(() => undefined);
  return { child, ready, done, exited };
}

async function stopWorker(worker: Worker): Promise<void> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  await worker.exited;
}

/** POSTs the mail to the worker's HTTP proxy as the host forwards a request, and resolves with the status. */
function forward(httpUri: string, invocationId: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL('api/mail', httpUri),
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-ms-invocation-id': invocationId,
          'x-forwarded-host': 'localhost:7071',
          'x-forwarded-proto': 'http',
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

const rpcString = (value: string) => ({ string: value });
const rpcJson = (value: unknown) => ({ json: JSON.stringify(value) });

/** One fresh worker through one path: ms from its start to the 202 (http) or to the message at the server (queue). */
async function coldRun(
  ctx: BenchContext,
  intake: AppServices,
  file: string,
  pkg: string,
  settings: Record<string, string>,
  mode: Mode,
  path: Path,
): Promise<number> {
  const queue = intake.storage.queues.getQueueClient(QUEUE);
  let messageId = '';
  if (path === 'queue') {
    await queue.clearMessages(); // the earlier rounds' intake
    // The message waits in the queue before the worker starts, as a backlog does when an instance is added.
    const response = await createSendMailHandler(() => intake)(
      postRequest(JSON.stringify({ from: sender(), to: 'cold@example.com', subject: 'Cold path', text: BODY_TEXT })),
      quietContext('sendMail'),
    );
    messageId = `<${(response.jsonBody as { id: string }).id}@${DOMAIN}>`;
  }
  const started = performance.now();
  const startedAt = Date.now();
  const worker = startWorker(file, pkg, mode, settings);
  try {
    const { httpUri } = await worker.ready;
    const invocationId = randomUUID();
    if (path === 'http') {
      const headers = { 'content-type': 'application/json' };
      worker.child.send({ functionName: 'sendMail', invocationId, triggerMetadata: { Headers: rpcJson(headers) }, data: { http: {} } });
      const body = JSON.stringify({ from: sender(), to: 'cold@example.com', subject: 'Cold path', text: BODY_TEXT });
      // A worker that failed closes the connection: its own error says why.
      const status = await forward(httpUri, invocationId, body).catch(async (error: Error) => {
        await Promise.race([worker.done, worker.exited]);
        throw error;
      });
      const ms = performance.now() - started;
      if (status !== 202) throw new Error(`the first POST /api/mail answered ${status}`);
      await worker.done;
      return ms;
    }
    const [message] = (await queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 60 })).receivedMessageItems;
    if (!message) throw new Error('the queued message is not in the queue');
    const text = Buffer.from(message.messageText, 'base64').toString('utf8');
    worker.child.send({
      functionName: 'processOutbox',
      invocationId,
      data: { json: text },
      triggerMetadata: {
        Id: rpcString(message.messageId),
        DequeueCount: rpcJson(message.dequeueCount),
        PopReceipt: rpcString(message.popReceipt),
        InsertionTime: rpcJson(message.insertedOn.toISOString()),
        ExpirationTime: rpcJson(message.expiresOn.toISOString()),
        NextVisibleTime: rpcJson(message.nextVisibleOn.toISOString()),
      },
    });
    const messages = ctx.stack.smtp.messages;
    const from = messages.length;
    let ms = 0;
    // A worker that finished without sending says why in the message's record.
    const unsent = worker.done.then(async () => {
      await sleep(5_000);
      if (ms === 0)
        throw new Error(
          `the worker did not send ${messageId}: ${JSON.stringify((await intake.status.get(messageId.slice(1).split('@')[0]))?.record)}`,
        );
    });
    const arrived = waitFor(
      () => {
        for (let i = from; i < messages.length; i++) if (messages[i].messageId === messageId) ms = messages[i].receivedAt;
        return ms > 0;
      },
      120_000,
      () => `${messageId} not at the SMTP server`,
      1,
    );
    unsent.catch(() => undefined);
    await Promise.race([arrived, unsent]);
    await worker.done;
    await queue.deleteMessage(message.messageId, message.popReceipt);
    return ms - startedAt; // the server's receivedAt is wall-clock time
  } finally {
    await stopWorker(worker);
  }
}

export async function coldPath(ctx: BenchContext): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mail-cold-path-'));
  const settings = { ...ctx.settings, MAIL_QUEUE_NAME: QUEUE };
  const config = loadConfig(settings);
  const intake = createAppServices(config);
  try {
    await provisionStorage(config, intake.storage);
    const { pkg } = stageDeploymentPackage(dir);
    const file = join(dir, 'worker.cjs');
    writeFileSync(file, WORKER);
    const paths: Path[] = ['http', 'queue'];
    const modes: Mode[] = ['eager', 'lazy'];
    const samples = new Map<string, number[]>();
    for (let round = 0; round <= RUNS; round++) {
      for (const path of paths)
        for (const mode of modes) {
          const ms = await coldRun(ctx, intake, file, pkg, settings, mode, path);
          // Round 0 warms the file cache and the stack's first connections: not counted.
          if (round > 0) samples.set(`${path} ${mode}`, [...(samples.get(`${path} ${mode}`) ?? []), ms]);
        }
    }
    const figure = (path: Path, mode: Mode) => median(samples.get(`${path} ${mode}`)!);
    const BASELINE = 'every chunk imported at start (eager)';
    const rows: Figure[] = [
      {
        measurement: 'cold path: process start → first 202 from POST /api/mail (the bundle, lazy)',
        unit: 'ms',
        baseline: { name: BASELINE, value: figure('http', 'eager') },
        product: { value: figure('http', 'lazy') },
        better: 'lower',
      },
      {
        measurement: 'cold path: process start → first queued message at the SMTP server (the bundle, lazy)',
        unit: 'ms',
        baseline: { name: BASELINE, value: figure('queue', 'eager') },
        product: { value: figure('queue', 'lazy') },
        better: 'lower',
      },
    ];
    const all = (path: Path, mode: Mode) =>
      samples
        .get(`${path} ${mode}`)!
        .map((ms) => ms.toFixed(0))
        .join(', ');
    return {
      rows,
      notes: [
        `cold path: median of ${RUNS} fresh worker processes per side after a warm-up round, the sides taking turns; the package loaded as the`,
        `  Functions Node.js worker loads it and invoked through its programming model; this process forwards the request and the queue message`,
        `  as the host does. ms, lazy vs eager: 202 ${all('http', 'lazy')} vs ${all('http', 'eager')}; at SMTP ${all('queue', 'lazy')} vs ${all('queue', 'eager')}.`,
      ],
    };
  } finally {
    await intake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
