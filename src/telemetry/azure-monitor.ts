// Exports traces, metrics and logs to Application Insights through OpenTelemetry, as the Functions Node.js
// documentation recommends (host.json telemetryMode OpenTelemetry; @azure/monitor-opentelemetry in the worker;
// the Functions instrumentation for invocation spans). Loaded only when a connection string is set, so local runs
// and tests pay nothing for it.
import type { TokenCredential } from '@azure/identity';

export async function startAzureMonitor(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString) return false;
  const [{ useAzureMonitor }, { AzureFunctionsInstrumentation }, { registerInstrumentations }, { trace }] = await Promise.all([
    import('@azure/monitor-opentelemetry'),
    import('@azure/functions-opentelemetry-instrumentation'),
    import('@opentelemetry/instrumentation'),
    import('@opentelemetry/api'),
  ]);
  useAzureMonitor({ azureMonitorExporterOptions: { connectionString, credential: await entraCredential(env) } });
  registerInstrumentations({ tracerProvider: trace.getTracerProvider(), instrumentations: [new AzureFunctionsInstrumentation()] });
  return true;
}

/** Application Insights with local authentication off takes Entra tokens: "ClientId=<id>;Authorization=AAD". */
async function entraCredential(env: NodeJS.ProcessEnv): Promise<TokenCredential | undefined> {
  const match = /(?:^|;)\s*Authorization\s*=\s*AAD\b/i.test(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '');
  if (!match) return undefined;
  const clientId = /(?:^|;)\s*ClientId\s*=\s*([^;]+)/i.exec(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '')?.[1]?.trim();
  const { ManagedIdentityCredential } = await import('@azure/identity');
  return new ManagedIdentityCredential(clientId ? { clientId } : {});
}
