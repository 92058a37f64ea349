// Queue trigger: hands each message to the worker. What the worker throws, the host retries and,
// after maxDequeueCount, moves to the poison queue.
import type { InvocationContext } from '@azure/functions';
import { processMessage } from '../delivery/process-message';
import type { Runtime } from '../runtime';
import { inSpan } from '../telemetry/spans';
import { contextFrom } from '../telemetry/trace-context';

export function createProcessOutboxHandler(runtime: () => Runtime) {
  return async function processOutbox(queueItem: unknown, context: InvocationContext): Promise<void> {
    const rt = runtime();
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    const traceparent = (queueItem as { traceparent?: unknown } | null)?.traceparent;
    try {
      await inSpan('mail.process', { 'mail.id': String((queueItem as { id?: unknown } | null)?.id ?? ''), 'mail.dequeue_count': dequeueCount }, () =>
        processMessage(queueItem, { dequeueCount, maxDequeueCount: rt.host.maxDequeueCount }, { ...rt.worker, log: context }),
        contextFrom(typeof traceparent === 'string' ? traceparent : undefined),
      );
    } catch (error) {
      context.warn(`Will retry (attempt ${dequeueCount} of ${rt.host.maxDequeueCount}): ${(error as Error).message}`);
      throw error;
    }
  };
}
