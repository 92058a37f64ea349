// The app's own traces and metrics, through the OpenTelemetry API: without a registered SDK these are no-ops,
// so the domain code calls them unconditionally. Attributes never carry an address, a subject, a body or a token.
import { metrics, trace, type MeterProvider } from '@opentelemetry/api';

const NAME = 'exo-smtp-mailer';

export const tracer = trace.getTracer(NAME);

function create(provider: MeterProvider) {
  const meter = provider.getMeter(NAME);
  return {
    sent: meter.createCounter('mail.sent', { description: 'Messages accepted by the SMTP server' }),
    failed: meter.createCounter('mail.failed', { description: 'Messages that failed for good, by category' }),
    bounced: meter.createCounter('mail.recipient.bounced', {
      description: 'Recipients a delivery report said were undeliverable, by status class (5.1, 5.2, …)',
    }),
    delayed: meter.createCounter('mail.recipient.delayed', { description: 'Recipients a delivery report said were delayed' }),
    deferred: meter.createCounter('mail.deferred', { description: 'Sends put off for later, by reason' }),
    tokenRenewals: meter.createCounter('mail.token.requests', { description: 'Access tokens fetched from the token endpoint' }),
    // Durations in seconds, as the semantic conventions have them.
    queueAge: meter.createHistogram('mail.queue.age', { description: 'Time from acceptance to the send attempt', unit: 's' }),
    governorWait: meter.createHistogram('mail.governor.wait', {
      description: 'Time waiting for a connection slot and a rate reservation',
      unit: 's',
    }),
  };
}

// The metrics API has no proxy provider: instruments made before the SDK registers would stay no-ops, and the
// SDK starts asynchronously in Azure. So they are made again whenever the global provider changes.
let current: { provider: MeterProvider; made: ReturnType<typeof create> } | undefined;

export function instruments(): ReturnType<typeof create> {
  const provider = metrics.getMeterProvider();
  if (current?.provider !== provider) current = { provider, made: create(provider) };
  return current.made;
}
