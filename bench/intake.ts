// Intake: one request at a time through acceptMail (parse, validate, status record, enqueue); baseline:
// queueClient.sendMessage of the same envelope, as a producer writing the queue directly would. Blocks of 50,
// alternating, after a warm-up of each.
import { performance } from 'node:perf_hooks';
import { functionKeyCaller } from '../src/callers/sender-policy';
import { createOutbox } from '../src/mail/outbox';
import { encodeQueueMessage } from '../src/storage/queue-message';
import { createStatusStore } from '../src/status/status-store';
import { acceptMail } from '../src/intake/accept-mail';
import { newEnvelope } from '../src/mail/envelope';
import { BODY_TEXT, DOMAIN, envInt, median, percentile, type BenchContext, type BenchResult } from './runner';

const INTAKE_N = envInt('BENCH_INTAKE_N', 300);

export async function intake({ runtime, config }: BenchContext): Promise<BenchResult> {
  const queues = runtime.storage.queues;
  const intakeQueue = queues.getQueueClient('bench-intake');
  const rawQueue = queues.getQueueClient('bench-raw');
  const table = runtime.storage.table('benchintake');
  await Promise.all([intakeQueue.createIfNotExists(), rawQueue.createIfNotExists(), table.createTable()]);
  const deps = {
    config,
    outbox: createOutbox(intakeQueue, runtime.storage.blobs.getContainerClient(config.payloadContainer)),
    status: createStatusStore(table),
  };
  const mail = { from: `bench@${DOMAIN}`, to: 'someone@example.com', subject: 'Intake benchmark', text: BODY_TEXT };
  const body = Buffer.from(JSON.stringify(mail), 'utf8');

  const product = async () => {
    const result = await acceptMail(
      { contentType: 'application/json', body, idempotencyKey: null, caller: functionKeyCaller(config) },
      deps,
    );
    if (result.status !== 202) throw new Error(`acceptMail answered ${result.status}`);
  };
  const raw = async () => void (await rawQueue.sendMessage(encodeQueueMessage(newEnvelope(mail))));

  const times = { raw: [] as number[], product: [] as number[] };
  const block = async (fn: () => Promise<void>, into?: number[]) => {
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await fn();
      into?.push(performance.now() - t);
    }
  };
  await block(raw);
  await block(product);
  while (times.product.length < INTAKE_N) {
    await block(raw, times.raw);
    await block(product, times.product);
  }
  const baseline = 'one queueClient.sendMessage';
  return {
    rows: [
      {
        measurement: 'intake, per request (median)',
        unit: 'ms',
        baseline: { name: baseline, value: median(times.raw) },
        product: { value: median(times.product) },
        better: 'lower',
      },
      {
        measurement: 'intake, per request (p95)',
        unit: 'ms',
        baseline: { name: baseline, value: percentile(times.raw, 0.95) },
        product: { value: percentile(times.product, 0.95) },
        better: 'lower',
      },
    ],
    notes: [
      `intake: acceptMail (validate, status record, enqueue) vs queueClient.sendMessage of the same envelope; one at a time, ${times.product.length} each.`,
    ],
  };
}
