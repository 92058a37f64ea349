import * as functions from '@azure/functions';
import { loadConfig, type MailConfig } from '../config/load-config';
import { redactText } from '../telemetry/redact';
import { startAzureMonitor, stopAzureMonitor } from '../telemetry/azure-monitor';

const { app } = functions;

// App-wide setup. HTTP streaming hands request bodies over as streams, so the mail intake can refuse a body
// at its size limit instead of receiving it whole first (src/handlers/read-body.ts).
app.setup({ enableHttpStream: true });

// When the worker starts: read and check the configuration, so a bad setting shows up in the logs at once, naming
// the setting, instead of at the first message; then start telemetry (Application Insights, when a connection string
// is set). The worker awaits this hook before it reports the app's capabilities and runs any function, which is what
// telemetry needs. The app's services (and the SDKs) are built when a function first runs.
app.hook.appStart(async () => {
  let config: MailConfig | undefined;
  try {
    config = loadConfig(process.env);
    const keep = config.logAddresses;
    // What operators need to confirm the deployment at a glance; never a secret.
    console.log(
      redactText(
        `Mail sender ready: auth ${config.auth.mode}, SMTP ${config.smtp.host}:${config.smtp.port}, queue ${config.queueName}, ` +
          `senders ${config.allowedSenders.join(', ')}, per mailbox ${config.smtp.maxConnectionsPerMailbox} connections and ${config.maxMessagesPerMinute} messages/min`,
        keep,
      ),
    );
  } catch (error) {
    console.error((error as Error).message);
  }
  try {
    // Without a valid configuration, addresses stay hidden: the privacy default holds until a setting says otherwise.
    await startAzureMonitor(functions, { keepAddresses: config?.logAddresses ?? false });
  } catch (error) {
    console.error(`Telemetry not started: ${error instanceof Error ? error.message : String(error)}`);
  }
});

// When the host ends the worker (scale-in, a restart, a deployment), what telemetry still buffers goes out first.
app.hook.appTerminate(async () => {
  try {
    await stopAzureMonitor();
  } catch (error) {
    console.error(`Telemetry not flushed: ${error instanceof Error ? error.message : String(error)}`);
  }
});
