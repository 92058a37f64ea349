// Queue trigger of the callback queue: hands each message to one callback attempt (callbacks/callback-attempt.ts).
// What it throws (storage failures only) the host retries and, after maxDequeueCount, moves to the poison queue.
import type { InvocationContext } from '@azure/functions';
import { SpanKind } from '@opentelemetry/api';
import { attemptCallback, type CallbackAttemptDeps } from '../callbacks/callback-attempt';
import type { MailConfig } from '../config/load-config';
import { inSpan, queueProcessing } from '../telemetry/spans';
import { privateLogger } from '../logger';

export interface DeliverCallbackDeps {
  config: Pick<MailConfig, 'logAddresses' | 'callbacks'>;
  callbacks: Omit<CallbackAttemptDeps, 'log'>;
}

export function createDeliverCallbackHandler(deps: () => DeliverCallbackDeps) {
  return async function deliverCallbackHandler(queueItem: unknown, context: InvocationContext): Promise<void> {
    const { config, callbacks } = deps();
    const { id } = (queueItem ?? {}) as { id?: unknown };
    await inSpan(
      'mail.callback',
      { ...queueProcessing(config.callbacks.queueName, context.triggerMetadata?.id), 'mail.id': typeof id === 'string' ? id : '' },
      () => attemptCallback(queueItem, { ...callbacks, log: privateLogger(context, config.logAddresses) }),
      { kind: SpanKind.CONSUMER },
    );
  };
}
