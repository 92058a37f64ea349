// Writes envelopes the way the Functions queue trigger reads them: base64-encoded JSON.
import type { QueueClient } from '@azure/storage-queue';
import type { Envelope } from '../mail/envelope';

export function encodeQueueMessage(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

export function createOutbox(queue: QueueClient) {
  return {
    async enqueue(envelope: Envelope): Promise<void> {
      await queue.sendMessage(encodeQueueMessage(envelope));
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
