// Queue trigger of the callback queue: hands each message to the callback delivery. What it throws (storage
// failures only) the host retries and, after maxDequeueCount, moves to the poison queue.
import type { InvocationContext } from '@azure/functions';
import { SpanKind } from '@opentelemetry/api';
import { deliverCallback } from '../callbacks/deliver-callback';
import type { Runtime } from '../runtime';
import { inSpan, queueProcessing } from '../telemetry/spans';
import { privateLogger } from '../logger';

export function createDeliverCallbackHandler(runtime: () => Runtime) {
  return async function deliverCallbackHandler(queueItem: unknown, context: InvocationContext): Promise<void> {
    const rt = runtime();
    const { id } = (queueItem ?? {}) as { id?: unknown };
    await inSpan(
      'mail.callback',
      { ...queueProcessing(rt.config.callbacks.queueName, context.triggerMetadata?.id), 'mail.id': typeof id === 'string' ? id : '' },
      () => deliverCallback(queueItem, { ...rt.callbacks, log: privateLogger(context, rt.config.logAddresses) }),
      { kind: SpanKind.CONSUMER },
    );
  };
}
