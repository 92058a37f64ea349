// Queue trigger: hands each message to the worker. What the worker throws, the host retries and,
// after maxDequeueCount, moves to the poison queue.
import type { InvocationContext } from '@azure/functions';
import { SpanKind } from '@opentelemetry/api';
import { processMessage, type WorkerDeps } from '../delivery/process-message';
import type { MailConfig } from '../config/load-config';
import type { QueueHostSettings } from '../config/host-json';
import { inSpan, queueProcessing } from '../telemetry/spans';
import { privateLogger } from '../logger';
import { contextFrom } from '../telemetry/trace-context';

export interface ProcessOutboxDeps {
  config: Pick<MailConfig, 'queueName' | 'logAddresses'>;
  host: Pick<QueueHostSettings, 'maxDequeueCount'>;
  worker: Omit<WorkerDeps, 'log'>;
}

export function createProcessOutboxHandler(deps: () => ProcessOutboxDeps) {
  return async function processOutbox(queueItem: unknown, context: InvocationContext): Promise<void> {
    const { config, host, worker } = deps();
    const log = privateLogger(context, config.logAddresses);
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    // Read before validation, for the trace only: the worker validates the message itself.
    const { traceparent, id } = (queueItem ?? {}) as { traceparent?: unknown; id?: unknown };
    try {
      await inSpan(
        'mail.process',
        {
          ...queueProcessing(config.queueName, context.triggerMetadata?.id),
          'mail.id': typeof id === 'string' ? id : '',
          'mail.dequeue_count': dequeueCount,
        },
        () => processMessage(queueItem, { dequeueCount, maxDequeueCount: host.maxDequeueCount }, { ...worker, log }),
        { parent: contextFrom(typeof traceparent === 'string' ? traceparent : undefined), kind: SpanKind.CONSUMER },
      );
    } catch (error) {
      log.warn(`Will retry (attempt ${dequeueCount} of ${host.maxDequeueCount}): ${(error as Error).message}`);
      throw error;
    }
  };
}
