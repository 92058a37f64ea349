// The Azure Functions Node.js worker, as far as a packaged app sees it, in a child process of the test (the host):
// "@azure/functions-core" through Module.prototype.require, the package's "main" entries imported (ES modules, as the
// package's package.json says), the appStart hooks awaited, the capabilities asked for (which locks app.setup and
// opens the HTTP streaming proxy), then invocations through the programming model with the pre/post-invocation and
// log hooks, and the appTerminate hooks when the host ends the worker. Messages from the host come over IPC; HTTP
// requests reach the proxy over HTTP, as the host forwards them.
//
// The process reaches nothing but loopback: a DNS lookup of any other name fails and is reported to the host.
import Module from 'node:module';
import dns from 'node:dns';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface InvokeMessage {
  type: 'invoke';
  invocationId: string;
  functionName: string;
  /** RpcTypedData of the trigger input (an HTTP trigger's request comes through the proxy instead). */
  trigger: Record<string, unknown>;
  triggerMetadata: Record<string, Record<string, unknown>>;
  traceparent: string;
}

export type WorkerMessage =
  | { type: 'ready'; capabilities: Record<string, string>; functions: string[] }
  | { type: 'log'; level: string; category: string; message: string; functionName?: string }
  | { type: 'result'; invocationId: string; ok: boolean; error?: string }
  | { type: 'terminated'; externalLookups: string[] }
  | { type: 'failed'; error: string };

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);
const externalLookups: string[] = [];
const send = (message: WorkerMessage) => process.send!(message);

function guardNetwork(): void {
  const refuse = (hostname: string) =>
    Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (the test worker reaches loopback only)`), { code: 'ENOTFOUND' });
  const lookup = dns.lookup.bind(dns);
  (dns as { lookup: unknown }).lookup = (hostname: string, ...rest: unknown[]) => {
    if (LOOPBACK.has(hostname)) return (lookup as (...args: unknown[]) => unknown)(hostname, ...rest);
    externalLookups.push(hostname);
    const callback = rest[rest.length - 1] as (error: Error) => void;
    process.nextTick(() => callback(refuse(hostname)));
    return undefined;
  };
  const promises = dns.promises.lookup.bind(dns.promises);
  (dns.promises as { lookup: unknown }).lookup = (hostname: string, ...rest: unknown[]) => {
    if (LOOPBACK.has(hostname)) return (promises as (...args: unknown[]) => unknown)(hostname, ...rest);
    externalLookups.push(hostname);
    return Promise.reject(refuse(hostname));
  };
}

interface Hook {
  name: string;
  callback: (context: unknown) => unknown;
}

async function main(): Promise<void> {
  guardNetwork();
  const root = process.cwd();
  const hooks: Hook[] = [];
  const registered = new Map<string, { metadata: any; callback: (...args: unknown[]) => unknown }>();
  let programmingModel: any;
  const runLogHooks = (level: string, category: string, message: string, invocationContext?: unknown, functionName?: string) => {
    const context = { level, category, message, invocationContext, hookData: {} };
    for (const hook of hooks.filter((h) => h.name === 'log')) hook.callback(context);
    send({ type: 'log', level, category, message: category === 'user' ? context.message : message, functionName });
  };
  const core = {
    version: '3.10.1',
    hostVersion: '4.1040.0',
    setProgrammingModel: (model: unknown) => (programmingModel = model),
    getProgrammingModel: () => programmingModel,
    registerFunction: (metadata: any, callback: (...args: unknown[]) => unknown) => {
      registered.set(metadata.name as string, { metadata, callback });
      return { dispose() {} };
    },
    registerHook: (name: string, callback: Hook['callback']) => {
      const hook = { name, callback };
      hooks.push(hook);
      return { dispose: () => hooks.splice(hooks.indexOf(hook), 1) };
    },
    log: (level: string, category: string, message: string) => runLogHooks(level, category, message),
  };
  const proto = Module.prototype as unknown as { require: (id: string) => unknown };
  proto.require = new Proxy(proto.require, {
    apply: (target, self, args: [string]) => (args[0] === '@azure/functions-core' ? core : Reflect.apply(target, self, args)),
  });

  // Loading, as the worker's startApp does.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string; type?: string };
  if (pkg.type !== 'module') throw new Error('the package is not an ES module package');
  const pattern = new RegExp(`^${basename(pkg.main).replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
  const dir = join(root, dirname(pkg.main));
  for (const file of readdirSync(dir)
    .filter((f) => pattern.test(f))
    .sort())
    await import(pathToFileURL(join(dir, file)).href);
  const appContext = { hookData: {}, appHookData: {}, functionAppDirectory: root };
  for (const hook of hooks.filter((h) => h.name === 'appStart')) await hook.callback(appContext);
  const capabilities = (await programmingModel.getCapabilities({ RawHttpBodyBytes: 'true', WorkerStatus: 'true' })) as Record<
    string,
    string
  >;
  send({ type: 'ready', capabilities, functions: [...registered.keys()] });

  // Invocations, as the worker's InvocationHandler runs them.
  process.on('message', (message: InvokeMessage | { type: 'terminate' }) => {
    if (message.type === 'invoke') void invoke(message);
    else void terminate();
  });

  async function invoke(message: InvokeMessage): Promise<void> {
    try {
      const fn = registered.get(message.functionName);
      if (!fn) throw new Error(`no function ${message.functionName}`);
      const triggerName = Object.entries(fn.metadata.bindings as Record<string, { type: string; direction: string }>).find(
        ([, binding]) => binding.direction === 'in' && /Trigger$/i.test(binding.type),
      )?.[0];
      if (!triggerName) throw new Error(`${message.functionName} has no trigger binding`);
      // The library's context, once getArguments made it: log hooks get it with every line logged during the invocation.
      const invocation: { context?: unknown } = {};
      const coreContext = {
        invocationId: message.invocationId,
        metadata: fn.metadata,
        state: undefined as string | undefined,
        request: {
          invocationId: message.invocationId,
          functionId: message.functionName,
          inputData: [{ name: triggerName, data: message.trigger }],
          triggerMetadata: message.triggerMetadata,
          traceContext: { traceParent: message.traceparent, traceState: '', attributes: {} },
        },
        log: (level: string, category: string, text: string) =>
          runLogHooks(level, category, text, invocation.context, message.functionName),
      };
      const model = programmingModel.getInvocationModel(coreContext);
      const { context, inputs } = await model.getArguments();
      invocation.context = context;
      const hookData = {};
      const pre = { invocationContext: context, inputs, functionCallback: fn.callback, hookData, appHookData: appContext.appHookData };
      coreContext.state = 'preInvocationHooks';
      for (const hook of hooks.filter((h) => h.name === 'preInvocation')) await hook.callback(pre);
      coreContext.state = 'invocation';
      let result: unknown;
      let error: unknown;
      try {
        result = await model.invokeFunction(context, pre.inputs, pre.functionCallback);
      } catch (thrown) {
        error = thrown;
      }
      coreContext.state = 'postInvocationHooks';
      const post = { invocationContext: context, inputs: pre.inputs, result, error, hookData, appHookData: appContext.appHookData };
      for (const hook of hooks.filter((h) => h.name === 'postInvocation')) await hook.callback(post);
      if (post.error) throw post.error instanceof Error ? post.error : new Error('the function failed with a non-Error value');
      await model.getResponse(context, post.result);
      send({ type: 'result', invocationId: message.invocationId, ok: true });
    } catch (error) {
      send({
        type: 'result',
        invocationId: message.invocationId,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async function terminate(): Promise<void> {
    for (const hook of hooks.filter((h) => h.name === 'appTerminate'))
      await hook.callback({ hookData: {}, appHookData: appContext.appHookData });
    send({ type: 'terminated', externalLookups });
    process.exit(0);
  }
}

main().catch((error: unknown) => {
  send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
