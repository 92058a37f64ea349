// A span around an async step: ended whatever happens, marked as an error with the error's class (its message may
// quote a server reply, which is kept out of attributes on purpose).
import { context as otelContext, SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';
import { tracer } from './instruments';

export function inSpan<T>(name: string, attributes: Attributes, run: () => Promise<T>, parent: Context = otelContext.active()): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
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
