// Telemetry as it runs in Azure: the deployment package azd ships (infra/scripts/stage-package.mjs), loaded by a
// stand-in for the Functions Node.js worker (test/support/packaged-worker.ts) with Application Insights' connection
// string pointing at a local ingestion endpoint, driven by this process as the Functions host drives it (HTTP
// through the worker's streaming proxy, queue messages from Azurite as invocations, the worker ended at the close).
// What the endpoint receives is what the Azure Monitor exporter really sends: the trace of one mail from the request
// to the SMTP send, the metrics, and the log lines the alert rules (infra/modules/queries/*.kql) read from `traces`;
// no key, token, signature or secret in any of it, and mail addresses only by domain unless MAIL_LOG_ADDRESSES.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import { createAppServices, type AppServices } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { startLocalStack, type LocalStack } from '../sandbox/stack';
import { ensureLocalCertificates, type LocalTls } from '../sandbox/certs';
import { APP_ROOT } from '../src/app-root';
import { startLocalHost, type LocalHost } from '../sandbox/functions-host';
import { appFunctions } from '../src/hosting/app-functions';
import { queueNameOf } from '../src/hosting/function-definition';
import { FAST_HOST, freePort } from './support/harness';
import { startIngestionEndpoint, type Envelope, type IngestionEndpoint } from './support/ingestion-endpoint';
import type { InvokeMessage, WorkerMessage } from './support/packaged-worker';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');
const STAGE_SCRIPT = join(ROOT, 'infra', 'scripts', 'stage-package.mjs');
const WORKER = join(__dirname, 'support', 'packaged-worker.js');

// What a caller and a callback receiver put in URLs and headers: none of it may reach telemetry.
const FUNCTION_KEY = 'SECRET-KEY-4d1f9a';
const HEADER_KEY = 'SECRET-FUNCTION-KEY-77c2';
const BEARER = `eyJhbGciOiJub25lIn0.eyJzdWIiOiJTRUNSRVQtQkVBUkVSIn0.SECRET-BEARER-SIG`;
const CALLBACK_SIG = 'SECRET-CALLBACK-SIG-90ab';
const CALLBACK_TOKEN = 'SECRET-CALLBACK-TOKEN-3e1c';
const RECIPIENT = 'traced.person@example.com';
const REJECTED_RECIPIENT = 'not.allowed@example.com';

let dir: string;
let pkg: string;
let stack: LocalStack;
let tls: LocalTls;
let defaults: Run;

before(
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'mail-telemetry-'));
    pkg = join(dir, 'package');
    // The package as the prepackage hook builds it, less the type check (npm test has just compiled everything).
    const stage = spawnSync(process.execPath, [STAGE_SCRIPT, '--out', pkg, '--no-type-check'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(stage.status, 0, `stage-package failed (${stage.signal ?? stage.status}):\n${stage.stdout}\n${stage.stderr}`);
    stack = await startLocalStack();
    tls = await ensureLocalCertificates(join(APP_ROOT, '.local', 'certs'));
    // Statsbeat (the SDK's own usage reports to Microsoft) off: the worker may reach the local endpoint only.
    // Every trace kept (the distro samples at most 5 traces a second by default, and a test makes its spans in a burst).
    defaults = await runWorker({ APPLICATION_INSIGHTS_NO_STATSBEAT: 'true', OTEL_TRACES_SAMPLER: 'always_on' });
  },
  { timeout: 300_000 },
);

after(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  endpoint: IngestionEndpoint;
  capabilities: Record<string, string>;
  /** Every log line the worker wrote, user and system, after the log hooks (what the host would get). */
  logs: string[];
  /** Names other than loopback the worker tried to resolve. */
  externalLookups: string[];
  /** The host's trace of the HTTP request, which the worker's spans continue. */
  traceId: string;
  hostSpanId: string;
  sentId: string;
  rejected: { status: number; body: string };
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Typed data (RpcTypedData) of trigger metadata as the host sends it for a queue message. */
function queueTriggerMetadata(metadata: Record<string, unknown> | undefined): InvokeMessage['triggerMetadata'] {
  const out: InvokeMessage['triggerMetadata'] = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    const name = key[0].toUpperCase() + key.slice(1);
    out[name] = typeof value === 'number' ? { json: String(value) } : { string: String(value) };
  }
  return out;
}

/** One worker's life: starts it on the package, sends one mail with a callback and one mail that is refused, ends it. */
async function runWorker(extraSettings: Record<string, string>): Promise<Run> {
  const endpoint = await startIngestionEndpoint(tls);
  const settings: Record<string, string> = {
    ...stack.settings('clientSecret'),
    MAIL_MAX_MESSAGES_PER_MINUTE: '10000',
    APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${randomUUID()};IngestionEndpoint=${endpoint.url};LiveEndpoint=${endpoint.url}`,
    ...extraSettings,
  };
  const config = loadConfig(settings);
  let runtime: AppServices | undefined;
  let host: LocalHost | undefined;
  let worker: ChildProcess | undefined;
  const logs: string[] = [];
  try {
    runtime = createAppServices(config, { host: FAST_HOST });
    await provisionStorage(config, runtime.storage);
    const env: NodeJS.ProcessEnv = { ...process.env, ...settings };
    for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'NODE_PATH']) delete env[name];
    const child = (worker = fork(WORKER, [], { cwd: pkg, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    let output = '';
    for (const stream of [child.stdout!, child.stderr!])
      stream.setEncoding('utf8').on('data', (text: string) => (output = (output + text).slice(-8000)));
    const results = new Map<string, (message: Extract<WorkerMessage, { type: 'result' }>) => void>();
    let terminated: ((message: Extract<WorkerMessage, { type: 'terminated' }>) => void) | undefined;
    let ready: ((message: Extract<WorkerMessage, { type: 'ready' }>) => void) | undefined;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`the worker exited (${signal ?? code}):\n${output}`))),
    );
    exited.catch(() => undefined);
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'log') logs.push(`${message.level} ${message.category} ${message.functionName ?? ''}: ${message.message}`);
      else if (message.type === 'result') results.get(message.invocationId)?.(message);
      else if (message.type === 'ready') ready?.(message);
      else if (message.type === 'terminated') terminated?.(message);
      else output += `\n${message.error}`;
    });
    const within = <T>(what: string, promise: Promise<T>, ms = 30_000) =>
      Promise.race([
        promise,
        exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms\n${output}`)), ms).unref()),
      ]);
    const started = await within('worker start', new Promise<Extract<WorkerMessage, { type: 'ready' }>>((resolve) => (ready = resolve)));

    const invoke = (message: Omit<InvokeMessage, 'type'>) =>
      within(
        message.functionName,
        new Promise<Extract<WorkerMessage, { type: 'result' }>>((resolve) => {
          results.set(message.invocationId, resolve);
          child.send({ type: 'invoke', ...message } satisfies InvokeMessage);
        }),
      );

    // The host's side of an HTTP call: the invocation over the channel, the request itself through the proxy, in a
    // trace of the host's own (its request span, which the host exports itself).
    const postMail = async (body: unknown, traceId = hex(16), hostSpanId = hex(8)) => {
      const invocationId = randomUUID();
      const headers = {
        'content-type': 'application/json',
        authorization: `Bearer ${BEARER}`,
        'x-functions-key': HEADER_KEY,
      };
      const invocation = invoke({
        invocationId,
        functionName: 'sendMail',
        trigger: { http: {} },
        triggerMetadata: { Headers: { json: JSON.stringify(headers) } },
        traceparent: `00-${traceId}-${hostSpanId}-01`,
      });
      const response = await within(
        'the proxied request',
        fetch(new URL(`api/mail?code=${FUNCTION_KEY}`, started.capabilities.HttpUri), {
          method: 'POST',
          headers: { ...headers, 'x-ms-invocation-id': invocationId, 'x-forwarded-host': 'mailer.example', 'x-forwarded-proto': 'https' },
          body: JSON.stringify(body),
        }),
      );
      const result = await invocation;
      assert.ok(result.ok, `sendMail failed: ${result.error}`);
      return { status: response.status, body: await response.text() };
    };

    // The host's queue triggers: messages from Azurite, handed to the worker with the host's own trace context.
    const rt = runtime;
    host = await startLocalHost({
      port: await freePort(),
      http: [],
      settings: FAST_HOST,
      log: (level, fn, message) => logs.push(`${level} host ${fn}: ${message}`),
      queue: appFunctions().queue.map((fn) => {
        const queueName = queueNameOf(fn, config);
        return {
          name: fn.name,
          queue: rt.storage.queues.getQueueClient(queueName),
          poisonQueue: rt.storage.queues.getQueueClient(`${queueName}-poison`),
          handler: async (item, context) => {
            const result = await invoke({
              invocationId: randomUUID(),
              functionName: fn.name,
              trigger: { json: JSON.stringify(item) },
              triggerMetadata: queueTriggerMetadata(context.triggerMetadata),
              traceparent: `00-${hex(16)}-${hex(8)}-01`,
            });
            if (!result.ok) throw new Error(result.error);
          },
        };
      }),
    });

    const traceId = hex(16);
    const hostSpanId = hex(8);
    const accepted = await postMail(
      {
        to: RECIPIENT,
        replyTo: 'reply.person@example.com',
        subject: 'traced',
        text: 'x',
        callbackUrl: `${stack.callbacks.url}/done?sig=${CALLBACK_SIG}&token=${CALLBACK_TOKEN}`,
      },
      traceId,
      hostSpanId,
    );
    assert.equal(accepted.status, 202, accepted.body);
    const sentId = (JSON.parse(accepted.body) as { id: string }).id;
    await stack.callbacks.waitFor((c) => c.event?.subject === sentId, 30_000);
    // The callback's invocation ends after the receiver answered (the worker records the delivery): its spans with it.
    const delivered = `Callback delivered: message ${sentId}`;
    await within(
      'the callback invocation',
      (async () => {
        while (!logs.some((line) => line.includes(delivered))) await new Promise((resolve) => setTimeout(resolve, 50));
      })(),
    );
    const rejected = await postMail({ to: REJECTED_RECIPIENT, from: 'someone.else@not-allowed.example', subject: 'refused', text: 'x' });

    await host.close();
    host = undefined;
    const end = await within(
      'worker termination',
      new Promise<Extract<WorkerMessage, { type: 'terminated' }>>((resolve) => {
        terminated = resolve;
        child.send({ type: 'terminate' });
      }),
    );
    return {
      endpoint,
      capabilities: started.capabilities,
      logs,
      externalLookups: end.externalLookups,
      traceId,
      hostSpanId,
      sentId,
      rejected,
    };
  } finally {
    await host?.close().catch(() => undefined);
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await runtime?.close().catch(() => undefined);
    await endpoint.close();
  }
}

interface SpanRow {
  name: string;
  type: string;
  id: string;
  parent?: string;
  trace?: string;
  data?: string;
  properties: Record<string, string>;
}

/** The spans the exporter sent, as Application Insights stores them: requests (SERVER, CONSUMER) and dependencies. */
function spans(envelopes: Envelope[]): SpanRow[] {
  return envelopes
    .filter((e) => e.data?.baseType === 'RequestData' || e.data?.baseType === 'RemoteDependencyData')
    .map((e) => ({
      name: String(e.data!.baseData!.name ?? e.tags?.['ai.operation.name'] ?? ''),
      type: e.data!.baseType === 'RequestData' ? 'Request' : String(e.data!.baseData!.type),
      id: String(e.data!.baseData!.id),
      parent: e.tags?.['ai.operation.parentId'],
      trace: e.tags?.['ai.operation.id'],
      data: e.data!.baseData!.data as string | undefined,
      properties: (e.data!.baseData!.properties ?? {}) as Record<string, string>,
    }));
}

const messages = (envelopes: Envelope[]) =>
  envelopes.filter((e) => e.data?.baseType === 'MessageData').map((e) => String(e.data!.baseData!.message));
const metricNames = (envelopes: Envelope[]) =>
  new Set(
    envelopes
      .filter((e) => e.data?.baseType === 'MetricData')
      .flatMap((e) => (e.data!.baseData!.metrics as { name: string }[]).map((m) => m.name)),
  );
const everything = (run: Run) => Buffer.concat(run.endpoint.bodies).toString('utf8');

/** The message prefixes and the message-id pattern the alert rules match, read from their queries. */
function alertPatterns(): { prefixes: string[]; messageId: RegExp } {
  const kql = readFileSync(join(ROOT, 'infra', 'modules', 'queries', 'mail-outcomes.kql'), 'utf8');
  const prefixes = [...kql.matchAll(/message startswith '([^']+)'/g)].map((m) => m[1]);
  const extract = /MessageId = extract\(@'([^']+)', 1, message\)/.exec(kql);
  assert.ok(extract && prefixes.length > 0, 'mail-outcomes.kql no longer has the expected shape');
  return { prefixes: [...new Set(prefixes)], messageId: new RegExp(extract[1]) };
}

test('the packaged app starts telemetry: the worker reports OpenTelemetry and reaches nothing but the local endpoint', () => {
  assert.equal(defaults.capabilities.WorkerOpenTelemetryEnabled, 'true', "the host would forward and duplicate the worker's logs");
  // The exporter (1.0.0-beta.47) always asks Microsoft's SDK configuration service for its settings, with no switch to
  // turn it off; the worker's guard refuses the name, so it never leaves the machine. Nothing else may be tried.
  const sdkConfiguration = 'settings.sdk.monitor.azure.com';
  assert.deepEqual(
    defaults.externalLookups.filter((name) => name !== sdkConfiguration),
    [],
    'names the worker tried to resolve beyond loopback',
  );
  assert.deepEqual(defaults.endpoint.unexpected, [], 'requests to the endpoint other than track calls');
  assert.ok(defaults.endpoint.envelopes.length > 0, 'nothing was exported');
});

test("one trace runs from the host's request span through mail.accept and the queue to mail.process, mail.token and mail.smtp.send", () => {
  const rows = spans(defaults.endpoint.envelopes);
  const shown = rows.map((r) => `${r.type} ${r.name} ${r.trace}/${r.parent}->${r.id}`).join('\n');
  const accept = rows.find((r) => r.name === 'mail.accept' && r.trace === defaults.traceId);
  assert.ok(accept, `no mail.accept in the request's trace:\n${shown}`);
  assert.equal(accept.parent, defaults.hostSpanId, "mail.accept continues the host's request span");
  assert.equal(accept.type, 'InProc');
  const processing = rows.find(
    (r) =>
      r.type === 'Request' && r.properties['mail.id'] === defaults.sentId && r.properties['messaging.destination.name'] === 'mail-outbox',
  );
  assert.ok(processing, `no request (CONSUMER span) for processing the message:\n${shown}`);
  assert.equal(processing.trace, defaults.traceId, "the worker continues the request's trace, not the queue trigger's");
  assert.equal(processing.parent, accept.id);
  assert.deepEqual(Object.fromEntries(Object.entries(processing.properties).filter(([k]) => k.startsWith('messaging.'))), {
    'messaging.system': 'azure_queue_storage',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': 'mail-outbox',
    'messaging.message.id': processing.properties['messaging.message.id'],
  });
  assert.ok(processing.properties['messaging.message.id'], 'the queue message id');
  for (const name of ['mail.token', 'mail.smtp.send']) {
    const step: SpanRow | undefined = rows.find((r) => r.name === name && r.parent === processing.id);
    assert.ok(step, `${name} under mail.process:\n${shown}`);
    assert.equal(step.trace, defaults.traceId);
    assert.equal(step.type, 'Dependency', `${name} is a CLIENT span (InProc would be INTERNAL)`);
  }
});

test('the metrics of the sent mail are exported, durations in seconds', () => {
  const names = metricNames(defaults.endpoint.envelopes);
  for (const name of ['mail.sent', 'mail.token.requests', 'mail.queue.age', 'mail.governor.wait'])
    assert.ok(names.has(name), `${name} in ${[...names].join(', ')}`);
  const age = defaults.endpoint.envelopes
    .filter((e) => e.data?.baseType === 'MetricData')
    .flatMap((e) => e.data!.baseData!.metrics as { name: string; max?: number; value: number; count?: number }[])
    .find((m) => m.name === 'mail.queue.age')!;
  assert.ok((age.max ?? age.value) < 60, `mail.queue.age in seconds, not milliseconds: ${JSON.stringify(age)}`);
});

test('the log lines the alert rules query reach the traces table from the worker', () => {
  const lines = messages(defaults.endpoint.envelopes);
  const { prefixes, messageId } = alertPatterns();
  const sent = lines.find((l) => l.startsWith('Sent message ') && l.includes(defaults.sentId));
  assert.ok(sent, `no Sent line:\n${lines.join('\n')}`);
  assert.ok(
    prefixes.some((p) => sent.startsWith(p)),
    `the alert rules match none of ${prefixes.join(' | ')}`,
  );
  assert.equal(messageId.exec(sent)?.[1], defaults.sentId, 'the rules read the message id from the line');
  assert.ok(
    lines.some((l) => l === `Accepted message ${defaults.sentId} from function-key`),
    'the queue-age rule starts from the Accepted line',
  );
});

test('no key, token, signature or secret reaches any span, metric or log the exporter sends', () => {
  const text = everything(defaults);
  for (const [what, secret] of [
    ['function key in ?code=', FUNCTION_KEY],
    ['x-functions-key header', HEADER_KEY],
    ['bearer token', 'SECRET-BEARER'],
    ['callback URL signature', CALLBACK_SIG],
    ['callback URL token', CALLBACK_TOKEN],
    ['client secret', stack.clientSecret],
    ['callback signing secret', stack.callbacks.secret],
  ] as const)
    assert.ok(!text.includes(secret), `${what} leaked into telemetry`);
  assert.doesNotMatch(text, /eyJ[\w-]{4,}\.[\w-]{4,}\./, 'a JWT (access token or assertion) in telemetry');
  assert.doesNotMatch(text, /code=(?!REDACTED)/, 'a code= value in telemetry');
  // The callback's own span is there, with its URL's query values redacted (not merely absent).
  const callback = spans(defaults.endpoint.envelopes).find((r) => r.data?.includes('/done?'));
  assert.ok(callback, 'the callback POST has a dependency span');
  assert.match(callback.data!, /\/done\?sig=REDACTED&token=REDACTED$/);
});

test('by default no full mail address reaches the logs or the telemetry, only domains', () => {
  const text = everything(defaults);
  const logs = defaults.logs.join('\n');
  for (const address of [RECIPIENT, 'reply.person@example.com', 'noreply@contoso.example', 'someone.else@not-allowed.example']) {
    assert.ok(!text.includes(address), `${address} in telemetry`);
    assert.ok(!logs.includes(address), `${address} in the worker's logs`);
  }
  assert.ok(
    messages(defaults.endpoint.envelopes).some((l) => l.includes('from ***@contoso.example')),
    'the sender by its domain',
  );
  assert.ok(logs.includes('from: ***@not-allowed.example is not an allowed sender'), `the refusal names the domain:\n${logs}`);
  assert.equal(defaults.rejected.status, 400);
});

test('MAIL_LOG_ADDRESSES=true: logs and telemetry name the addresses in full, and still no secret', { timeout: 240_000 }, async () => {
  const run = await runWorker({ APPLICATION_INSIGHTS_NO_STATSBEAT: 'true', OTEL_TRACES_SAMPLER: 'always_on', MAIL_LOG_ADDRESSES: 'true' });
  const lines = messages(run.endpoint.envelopes);
  assert.ok(
    lines.some((l) => l.startsWith(`Sent message ${run.sentId} from noreply@contoso.example `)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => l.includes('from: someone.else@not-allowed.example is not an allowed sender')),
    lines.join('\n'),
  );
  assert.ok(run.logs.some((l) => l.includes(`Sent message ${run.sentId} from noreply@contoso.example `)));
  const text = everything(run);
  for (const secret of [FUNCTION_KEY, HEADER_KEY, CALLBACK_SIG, CALLBACK_TOKEN, stack.clientSecret]) assert.ok(!text.includes(secret));
});
