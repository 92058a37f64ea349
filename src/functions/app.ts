import { app } from '@azure/functions';
import { loadConfig } from '../config';
import { startAzureMonitor } from '../telemetry/azure-monitor';

// App-wide setup. HTTP streaming hands request bodies over as streams, so the mail intake can refuse a body
// at its size limit instead of receiving it whole first (src/handlers/read-body.ts).
app.setup({ enableHttpStream: true });

// Traces, metrics and logs to Application Insights through OpenTelemetry when a connection string is set.
startAzureMonitor().catch((error: unknown) =>
  console.error(`Telemetry not started: ${error instanceof Error ? error.message : String(error)}`),
);

// Read and check the configuration when the worker starts, so a bad setting shows up in the
// logs at once, naming the setting, instead of at the first message. The runtime itself (and the SDKs) is built
// when a function first runs.
app.hook.appStart(() => {
  try {
    const config = loadConfig(process.env);
    // What operators need to confirm the deployment at a glance; never a secret.
    console.log(
      `Mail sender ready: auth ${config.auth.mode}, SMTP ${config.smtp.host}:${config.smtp.port}, queue ${config.queueName}, ` +
        `senders ${config.allowedSenders.join(', ')}, per mailbox ${config.smtp.maxConnectionsPerMailbox} connections and ${config.maxMessagesPerMinute} messages/min`,
    );
  } catch (error) {
    console.error((error as Error).message);
  }
});
