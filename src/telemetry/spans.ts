// A span around an async step: ended whatever happens, marked as an error with the error's class (its message may
// quote a server reply, which is kept out of attributes on purpose).
import { context as otelContext, SpanKind, SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';
import { tracer } from './instruments';

export interface SpanOptions {
  /** The context the span continues (default: the active one). */
  parent?: Context;
  /** CONSUMER for processing a queue message, CLIENT for a call to another service; INTERNAL otherwise. */
  kind?: SpanKind;
}

export function inSpan<T>(name: string, attributes: Attributes, run: () => Promise<T>, options: SpanOptions = {}): Promise<T> {
  const { parent = otelContext.active(), kind = SpanKind.INTERNAL } = options;
  return tracer.startActiveSpan(name, { attributes, kind }, parent, async (span) => {
    try {
      return await run();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * The semantic conventions' messaging attributes for processing one queue message. The registry names no value for
 * Azure Queue Storage, so messaging.system takes the product's name in the registry's style.
 */
export function queueProcessing(queueName: string, messageId: unknown): Attributes {
  return {
    'messaging.system': 'azure_queue_storage',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': queueName,
    ...(typeof messageId === 'string' && messageId ? { 'messaging.message.id': messageId } : {}),
  };
}
