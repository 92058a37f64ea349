// The queue trigger's entry into the worker: decode the message, hand it to a worker made for it, and on
// the host's last try record why it goes to the poison queue.
import { decodeEnvelope } from '../mail/envelope';
import { isFinal } from '../status/mail-state';
import * as transition from '../status/transitions';
import { MessageWorker, type WorkerDeps } from './message-worker';
import { instruments } from '../telemetry/instruments';

export { RetryLaterError, type WorkerDeps } from './message-worker';
export { DEFAULT_POLICY, type DeliveryPolicy } from './policy';

export interface QueueDelivery {
  dequeueCount: number;
  maxDequeueCount: number;
}

export async function processMessage(item: unknown, delivery: QueueDelivery, deps: WorkerDeps): Promise<void> {
  const now = deps.now ?? Date.now;
  const decoded = decodeEnvelope(item);
  if (!decoded.ok) {
    // Retrying cannot fix a malformed message: log it once as a permanent failure and let it go.
    const reason = decoded.errors.map((e) => `${e.field}: ${e.detail}`).join('; ');
    deps.log.error(`Permanent failure: malformed outbox message: ${reason}`);
    instruments().failed.add(1, { 'mail.error.category': 'malformed' });
    await recordMalformed(item, reason, deps, now);
    return;
  }
  const worker = new MessageWorker(deps, decoded.envelope, now);
  try {
    await worker.run();
  } catch (error) {
    if (delivery.dequeueCount >= delivery.maxDequeueCount) await worker.poisoned(error as Error).catch(() => undefined);
    throw error;
  }
}

async function recordMalformed(item: unknown, reason: string, deps: WorkerDeps, now: () => number): Promise<void> {
  // Record it when the message names an id we know, so a caller polling that id learns why.
  const id = typeof item === 'object' && item !== null ? (item as { id?: unknown }).id : undefined;
  if (typeof id !== 'string') return;
  const latest = await deps.status.get(id).catch(() => undefined);
  if (!latest || isFinal(latest.record.status)) return;
  const { record } = await deps.status.update(latest, transition.malformed(reason), new Date(now()));
  // Its caller asked to hear how it ended: failed is an end.
  if (record.callbackUrl && deps.callbacks) {
    await deps.callbacks
      .notify(record)
      .catch((error: Error) => deps.log.error(`Callback not queued for message ${record.id}: ${error.message}`));
  }
}
