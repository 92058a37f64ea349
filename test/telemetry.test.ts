// One trace from the HTTP request through the queue envelope to the SMTP send, outcome metrics by category, and
// no secret, token or address in any span, metric or log — with in-memory OpenTelemetry exporters.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { startHarness, type Harness } from './support/harness';

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 });
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const meterProvider = new MeterProvider({ readers: [reader] });

let h: Harness;
before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  h = await startHarness({ mode: 'clientSecret' });
});
after(async () => {
  await h?.close();
  await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
});

function points(name: string): Array<{ attributes: Record<string, unknown>; value: unknown }> {
  return metricExporter
    .getMetrics()
    .flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics))
    .filter((m) => m.descriptor.name === name)
    .flatMap((m) => m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value })));
}

test('one trace runs from the HTTP request through the queue to the SMTP send', async () => {
  const accepted = await h.post({ to: 'traced@example.com', subject: 'traced', text: 'x' });
  assert.equal((await h.waitForFinal(accepted.json.id)).status, 'sent');
  const finished = spans.getFinishedSpans();
  const named = (name: string) =>
    finished.find(
      (s) =>
        s.name === name &&
        (name === 'mail.accept' || s.spanContext().traceId === finished.find((a) => a.name === 'mail.accept')!.spanContext().traceId),
    );
  const accept = named('mail.accept')!;
  const processing = named('mail.process')!;
  assert.ok(accept && processing, finished.map((s) => s.name).join(', '));
  assert.equal(processing.spanContext().traceId, accept.spanContext().traceId, 'the worker continues the request trace');
  assert.equal(processing.parentSpanContext?.spanId, accept.spanContext().spanId);
  for (const step of ['mail.token', 'mail.smtp.send']) {
    const span = named(step);
    assert.ok(span, `${step} in the same trace`);
    assert.equal(span.parentSpanContext?.spanId, processing.spanContext().spanId);
  }
});

test('outcomes, queue age, governor wait and token requests are measured; failures by category', async () => {
  h.stack.smtp.inject({ stage: 'mail', reply: '550 5.7.60 SMTP; Client does not have permissions to send as this sender', times: 1 });
  const failed = await h.post({ to: 'denied@example.com', subject: 'denied', text: 'x' });
  assert.equal((await h.waitForFinal(failed.json.id)).status, 'failed');
  await reader.forceFlush();
  const sum = (name: string) => points(name).reduce((total, p) => total + Number(p.value), 0);
  assert.ok(sum('mail.sent') >= 1);
  assert.deepEqual(
    points('mail.failed').map((p) => p.attributes),
    [{ 'mail.error.category': 'send-as-denied' }],
  );
  assert.ok(sum('mail.token.requests') >= 1);
  for (const histogram of ['mail.queue.age', 'mail.governor.wait']) {
    const [point] = points(histogram);
    assert.ok(point && (point.value as { count: number }).count >= 1, histogram);
  }
});

test('no secret, token or recipient address reaches a span, a metric or a log', async () => {
  await reader.forceFlush();
  const token = (await h.runtime.tokens.getToken()).token;
  const secret = h.settings.MAIL_CLIENT_SECRET;
  const everything = JSON.stringify({
    spans: spans
      .getFinishedSpans()
      .map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, resource: s.resource.attributes })),
    metrics: metricExporter.getMetrics(),
    logs: h.logs,
  });
  for (const [what, value] of [
    ['client secret', secret],
    ['access token', token],
    ['token signature', token.split('.')[2]],
  ] as const) {
    assert.ok(!everything.includes(value), `${what} leaked`);
  }
  const telemetryOnly = JSON.stringify({ spans: spans.getFinishedSpans().map((s) => s.attributes), metrics: metricExporter.getMetrics() });
  for (const address of ['traced@example.com', 'denied@example.com', 'noreply@contoso.example'])
    assert.ok(!telemetryOnly.includes(address), `${address} in telemetry`);
});
