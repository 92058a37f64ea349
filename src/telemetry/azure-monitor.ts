// Exports traces, metrics and logs to Application Insights through OpenTelemetry, as the Functions Node.js
// documentation recommends (host.json telemetryMode OpenTelemetry; @azure/monitor-opentelemetry in the worker;
// the Functions instrumentation for trace context and logs). Loaded only when a connection string is set, so local
// runs and tests pay nothing for it.
//
// Once the worker reports OpenTelemetry (the instrumentation sets the WorkerOpenTelemetryEnabled capability), the host
// no longer forwards the worker's logs (categories Function.*) to Application Insights: the worker exports them itself,
// through the instrumentation's log hook, into the same `traces` table the alert rules query.
import { createRequire } from 'node:module';
import type * as AzureFunctions from '@azure/functions';
import type { TokenCredential } from '@azure/identity';
import type { HttpInstrumentationConfig } from '@opentelemetry/instrumentation-http';
import { RedactingLogRecordProcessor, RedactingSpanProcessor } from './redact';

export interface TelemetryOptions {
  /** MAIL_LOG_ADDRESSES: exported logs and spans may name mail addresses in full. */
  keepAddresses: boolean;
}

/**
 * Starts the exporter and hooks the Functions instrumentation into this app's copy of @azure/functions. Must run
 * before the worker asks for the app's capabilities (it locks app.setup then) and before the first invocation: the
 * appStart hook is both, as the worker awaits it right after loading the entry files.
 */
export async function startAzureMonitor(
  functions: typeof AzureFunctions,
  options: TelemetryOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString) return false;
  const [{ useAzureMonitor, shutdownAzureMonitor }, instrumentation, credential] = await Promise.all([
    import('@azure/monitor-opentelemetry'),
    import('@azure/functions-opentelemetry-instrumentation'),
    entraCredential(env),
  ]);
  // The worker's only HTTP server is the host's proxy (HTTP streaming): the host records each request already, with
  // its URL sanitized, so a second request span per call would only count every call twice.
  const http: HttpInstrumentationConfig = { enabled: true, ignoreIncomingRequestHook: () => true };
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString, credential },
    // The host reports live metrics in OpenTelemetry mode; a second stream from every worker adds nothing.
    enableLiveMetrics: false,
    // Traces are sampled (by default at most 5 traces a second); log lines are not: the alert rules count and follow
    // every outcome line in `traces`, so none may go with a trace that was sampled out.
    enableTraceBasedSamplingForLogs: false,
    instrumentationOptions: { http },
    spanProcessors: [new RedactingSpanProcessor(options.keepAddresses)],
    logRecordProcessors: [new RedactingLogRecordProcessor(options.keepAddresses)],
  });
  // The HTTP instrumentation patches node:http and node:https when they are required after it is enabled; the bundle
  // imported them long before, as ES modules. Requiring them once more here lets the patch take, so a request made
  // through the module object (https.request, as the callback POST does) is traced.
  const requireBuiltin = createRequire(__filename);
  requireBuiltin('node:http');
  requireBuiltin('node:https');
  // The ESM variant is patched by hand: the CommonJS one waits for a require() of @azure/functions, which never comes
  // in the bundle, where that package is inside a chunk.
  const { AzureFunctionsInstrumentationESM } = commonJsExports(instrumentation, 'AzureFunctionsInstrumentationESM');
  new AzureFunctionsInstrumentationESM().registerAzFunc(functions);
  stop = shutdownAzureMonitor;
  return true;
}

let stop: (() => Promise<void>) | undefined;

/** Exports what is still buffered (spans batch for seconds, metrics for a minute) and stops: when the worker ends. */
export async function stopAzureMonitor(): Promise<void> {
  const shutdown = stop;
  stop = undefined;
  await shutdown?.();
}

/**
 * A CommonJS package's exports through import(): named on the namespace when Node or tsc's interop lists them, only
 * under `default` when esbuild bundles a package whose exports it cannot see statically (webpack's output).
 */
export function commonJsExports<T extends object>(namespace: T, name: keyof T): T {
  if (namespace[name] !== undefined) return namespace;
  const fallback = (namespace as { default?: T }).default;
  if (fallback?.[name] === undefined) throw new Error(`the module exports no ${String(name)}`);
  return fallback;
}

/** Application Insights with local authentication off takes Entra tokens: "ClientId=<id>;Authorization=AAD". */
async function entraCredential(env: NodeJS.ProcessEnv): Promise<TokenCredential | undefined> {
  const match = /(?:^|;)\s*Authorization\s*=\s*AAD\b/i.test(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '');
  if (!match) return undefined;
  const clientId = /(?:^|;)\s*ClientId\s*=\s*([^;]+)/i.exec(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '')?.[1]?.trim();
  const { ManagedIdentityCredential } = await import('@azure/identity');
  return new ManagedIdentityCredential(clientId ? { clientId } : {});
}
