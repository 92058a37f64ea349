// W3C trace context carried in the queue envelope, so one trace runs from the HTTP request to the SMTP send.
import { context, propagation, type Context } from '@opentelemetry/api';

export const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The active span's traceparent, when there is one. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent && TRACEPARENT.test(carrier.traceparent) ? carrier.traceparent : undefined;
}

/** The context a queued message's processing continues, from the traceparent its producer wrote. */
export function contextFrom(traceparent: string | undefined): Context {
  if (!traceparent || !TRACEPARENT.test(traceparent)) return context.active();
  return propagation.extract(context.active(), { traceparent });
}
