// Queue trigger: hands each message to the worker. What the worker throws, the host retries and,
// after maxDequeueCount, moves to the poison queue.
import type { InvocationContext } from '@azure/functions';
import { SpanKind } from '@opentelemetry/api';
import { processMessage } from '../delivery/process-message';
import type { Runtime } from '../runtime';
import { inSpan, queueProcessing } from '../telemetry/spans';
import { privateLogger } from '../logger';
import { contextFrom } from '../telemetry/trace-context';

export function createProcessOutboxHandler(runtime: () => Runtime) {
  return async function processOutbox(queueItem: unknown, context: InvocationContext): Promise<void> {
    const rt = runtime();
    const log = privateLogger(context, rt.config.logAddresses);
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    // Read before validation, for the trace only: the worker validates the message itself.
    const { traceparent, id } = (queueItem ?? {}) as { traceparent?: unknown; id?: unknown };
    try {
      await inSpan(
        'mail.process',
        {
          ...queueProcessing(rt.config.queueName, context.triggerMetadata?.id),
          'mail.id': typeof id === 'string' ? id : '',
          'mail.dequeue_count': dequeueCount,
        },
        () => processMessage(queueItem, { dequeueCount, maxDequeueCount: rt.host.maxDequeueCount }, { ...rt.worker, log }),
        { parent: contextFrom(typeof traceparent === 'string' ? traceparent : undefined), kind: SpanKind.CONSUMER },
      );
    } catch (error) {
      log.warn(`Will retry (attempt ${dequeueCount} of ${rt.host.maxDequeueCount}): ${(error as Error).message}`);
      throw error;
    }
  };
}
