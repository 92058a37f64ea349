// Queue trigger: one envelope per invocation. Final outcomes return; retryable ones throw so the
// host makes the message visible again and, after maxDequeueCount, moves it to the poison queue.
import type { InvocationContext } from '@azure/functions';
import { decodeEnvelope } from '../mail/envelope';
import { deliver } from '../delivery/deliver';
import type { Runtime } from '../runtime';

export function createProcessOutboxHandler(runtime: () => Runtime) {
  return async function processOutbox(queueItem: unknown, context: InvocationContext): Promise<void> {
    const { config, tokens, smtp, host } = runtime();
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    const decoded = decodeEnvelope(queueItem);
    if (!decoded.ok) {
      // Retrying cannot fix a malformed message: log it once as a permanent failure and let it go.
      context.error(
        `Permanent failure: malformed outbox message ${String(context.triggerMetadata?.id ?? '')}: ` +
          decoded.errors.map((e) => `${e.field}: ${e.detail}`).join('; '),
      );
      return;
    }
    const { envelope } = decoded;
    try {
      const outcome = await deliver(envelope, { allowedSenders: config.allowedSenders, tokens, smtp, log: context });
      if (outcome.status === 'sent') {
        context.log(`Sent message ${envelope.id} (attempt ${dequeueCount}): ${outcome.info.response}; rejected: ${outcome.info.rejected.length}`);
      } else {
        const { failure } = outcome;
        context.error(`Permanent failure: message ${envelope.id} [${failure.category}] ${failure.reply?.text ?? ''} Hint: ${failure.hint}`);
      }
    } catch (error) {
      context.warn(`Temporary failure: message ${envelope.id} (attempt ${dequeueCount} of ${host.maxDequeueCount}): ${(error as Error).message}`);
      throw error;
    }
  };
}
