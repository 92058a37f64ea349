// The queue trigger's entry into the worker: decode the message, hand it to a worker made for it, and on
// the host's last try record why it goes to the poison queue.
import { decodeEnvelope } from '../mail/envelope';
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
    // Retrying cannot fix a malformed message: log it once as a permanent failure and let it go. Whatever id it
    // names, no record is touched: a message that does not decode is nobody's own, and could otherwise fail another
    // caller's mail by naming its id.
    const reason = decoded.errors.map((e) => `${e.field}: ${e.detail}`).join('; ');
    deps.log.error(`Permanent failure: malformed outbox message: ${reason}`);
    instruments().failed.add(1, { 'mail.error.category': 'malformed' });
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
