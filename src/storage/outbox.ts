// Writes envelopes the way the Functions queue trigger reads them: base64-encoded JSON.
// An envelope too big for a queue message (64 KB after encoding) goes through Blob storage:
// the mail is stored as a blob and the queue message carries a reference (claim check).
import type { QueueClient } from '@azure/storage-queue';
import type { ContainerClient } from '@azure/storage-blob';
import { payloadBlobName, payloadBlobNameSchema, type Envelope } from '../mail/envelope';
import type { MailRequest } from '../mail/mail-request';

export const MAX_QUEUE_MESSAGE_BYTES = 64 * 1024;
/** Azure Storage queues hide a message for at most 7 days. */
export const MAX_VISIBILITY_DELAY_MS = 7 * 24 * 60 * 60 * 1000;

export function encodeQueueMessage(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

export interface EnqueueOptions {
  /** Keep the message invisible this long (scheduled sends, deferrals, backoff). */
  delayMs?: number;
}

/**
 * The payload blob an envelope needs when it is too big for a queue message (claim check), else undefined. Known
 * before anything is written, so the status record can name the blob from the start.
 */
export function claimCheckBlob(envelope: Envelope & { mail: MailRequest }, mailJson: string): string | undefined {
  const { mail: _inline, ...reference } = envelope;
  const envelopeBytes = Buffer.byteLength(JSON.stringify(reference)) + Buffer.byteLength(mailJson) + '"mail":,'.length;
  return Math.ceil(envelopeBytes / 3) * 4 <= MAX_QUEUE_MESSAGE_BYTES ? undefined : payloadBlobName(envelope.id);
}

export function createOutbox(queue: QueueClient, payloads: ContainerClient) {
  // Every payload name passes here before it reaches the blob client, which would resolve ".." or "/" in it
  // to a blob outside the payload container. The envelope schema refuses such names too; this holds even if not.
  const payload = (blobName: string) => {
    if (!payloadBlobNameSchema.safeParse(blobName).success) throw new PayloadNameError(blobName);
    return payloads.getBlockBlobClient(blobName);
  };
  const send = async (envelope: Envelope, options?: EnqueueOptions) => {
    const delayMs = Math.min(Math.max(0, options?.delayMs ?? 0), MAX_VISIBILITY_DELAY_MS - 1000);
    await queue.sendMessage(encodeQueueMessage(envelope), {
      visibilityTimeout: delayMs > 0 ? Math.ceil(delayMs / 1000) : undefined,
      messageTimeToLive: -1, // a deferred message must not expire in the queue
    });
  };

  return {
    /**
     * Puts a new envelope on the queue; returns the payload blob's name when the claim check was needed.
     * `mailJson` is the mail already serialised by the caller: the size decision and the blob reuse it rather
     * than copy the attachments again.
     */
    async enqueue(envelope: Envelope & { mail: MailRequest }, mailJson: string, options?: EnqueueOptions): Promise<string | undefined> {
      const blobName = claimCheckBlob(envelope, mailJson);
      if (!blobName) {
        await send(envelope, options);
        return undefined;
      }
      const { mail: _inline, ...reference } = envelope;
      await payload(blobName).uploadData(Buffer.from(mailJson, 'utf8'), { blobHTTPHeaders: { blobContentType: 'application/json' } });
      await send({ ...reference, mailBlob: blobName }, options);
      return blobName;
    },

    /** Puts an envelope already on the queue back, to be seen again after a delay. */
    requeue: send,

    async loadMail(blobName: string): Promise<MailRequest> {
      const buffer = await payload(blobName).downloadToBuffer();
      return JSON.parse(buffer.toString('utf8')) as MailRequest;
    },

    async deletePayload(blobName: string): Promise<void> {
      await payload(blobName).deleteIfExists();
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;

export class PayloadNameError extends Error {
  constructor(readonly blobName: string) {
    super(`not a payload blob name: ${JSON.stringify(blobName.slice(0, 200))}`);
    this.name = 'PayloadNameError';
  }
}
