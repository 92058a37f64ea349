// Writes envelopes the way the Functions queue trigger reads them: base64-encoded JSON.
// An envelope too big for a queue message (64 KB after encoding) goes through Blob storage (claim check): the
// message is composed once, here, and stored as RFC 5322 text that the worker streams to the SMTP connection;
// the queue message carries the blob's name and the SMTP envelope.
import type { Readable } from 'node:stream';
import type { QueueClient } from '@azure/storage-queue';
import type { ContainerClient } from '@azure/storage-blob';
import { mimeBlobName, mimeBlobNameSchema, payloadBlobName, payloadBlobNameSchema, type Envelope, type MimeReference } from './envelope';
import type { MailRequest } from './mail-request';
import { messageBytes } from './message-size';
import { recipientsOf, senderOf } from './addresses';
import { composeMime } from './compose';
import { fitsQueueMessage, MAX_QUEUE_MESSAGE_BYTES, sendQueueMessage } from '../storage/queue-message';

/** Composed messages up to this size are uploaded in one request; larger ones stream in blocks of this size. */
const BLOCK_BYTES = 2 * 1024 * 1024;

export interface EnqueueOptions {
  /** Keep the message invisible this long (scheduled sends, deferrals, backoff). */
  delayMs?: number;
}

type NewEnvelope = Envelope & { mail: MailRequest };

/** The queue message of a composed message: the mail replaced by its blob and SMTP envelope. */
function mimeEnvelope(envelope: NewEnvelope): Envelope {
  const { mail, ...reference } = envelope;
  const mime: MimeReference = {
    blob: mimeBlobName(envelope.id),
    from: senderOf(mail),
    to: recipientsOf(mail),
    ...(mail.sendAt ? { sendAt: mail.sendAt } : {}),
    ...(mail.callbackUrl ? { callbackUrl: mail.callbackUrl } : {}),
  };
  return { ...reference, mime };
}

/** The envelope as it goes on the queue: the mail itself, or in its place the blob it was written to. */
export function queuedEnvelope(envelope: NewEnvelope, blobName: string | undefined): Envelope {
  if (!blobName) return envelope;
  const { mail: _mail, ...reference } = envelope;
  return blobName === payloadBlobName(envelope.id) ? { ...reference, mailBlob: blobName } : mimeEnvelope(envelope);
}

/**
 * The payload blob an envelope needs when it is too big for a queue message (claim check), else undefined. Known
 * before anything is written, so the status record can name the blob from the start. A mail whose size alone rules
 * out a queue message is not serialised to find out. Normally the composed message ("<id>.eml"); the mail as JSON
 * ("<id>.json") only when even its SMTP envelope (hundreds of long addresses) would not fit a queue message.
 */
export function claimCheckBlob(envelope: NewEnvelope): string | undefined {
  if (messageBytes(envelope.mail) < MAX_QUEUE_MESSAGE_BYTES && fitsQueueMessage(envelope)) return undefined;
  return fitsQueueMessage(mimeEnvelope(envelope)) ? mimeBlobName(envelope.id) : payloadBlobName(envelope.id);
}

export function createOutbox(queue: QueueClient, payloads: ContainerClient) {
  // Every payload name passes here before it reaches the blob client, which would resolve ".." or "/" in it
  // to a blob outside the payload container. The envelope schema refuses such names too; this holds even if not.
  const payload = (blobName: string) => {
    if (!payloadBlobNameSchema.safeParse(blobName).success && !mimeBlobNameSchema.safeParse(blobName).success) {
      throw new PayloadNameError(blobName);
    }
    return payloads.getBlockBlobClient(blobName);
  };
  // The size as storage states it, with the version it belongs to: what is read next is that version or nothing.
  const measured = async (blobName: string, maxBytes: number) => {
    const blob = payload(blobName);
    const { contentLength = 0, etag } = await blob.getProperties();
    if (contentLength > maxBytes) throw new PayloadTooLargeError(blobName, contentLength, maxBytes);
    return { blob, bytes: contentLength, etag };
  };
  const send = (envelope: Envelope, options?: EnqueueOptions) => sendQueueMessage(queue, envelope, options?.delayMs);

  return {
    /**
     * Puts a new envelope on the queue; returns the payload blob's name when the claim check was needed. A caller that
     * has already asked claimCheckBlob passes its answer, so the envelope is not measured twice.
     */
    async enqueue(envelope: NewEnvelope, options?: EnqueueOptions, blobName = claimCheckBlob(envelope)): Promise<string | undefined> {
      if (!blobName) {
        await send(envelope, options);
        return undefined;
      }
      const blob = payload(blobName);
      const { mail } = envelope;
      if (blobName === payloadBlobName(envelope.id)) {
        await blob.uploadData(Buffer.from(JSON.stringify(mail), 'utf8'), { blobHTTPHeaders: { blobContentType: 'application/json' } });
        await send(queuedEnvelope(envelope, blobName), options);
        return blobName;
      }
      const message = composeMime({ id: envelope.id, createdAt: envelope.createdAt, mail });
      const blobHTTPHeaders = { blobContentType: 'message/rfc822' };
      // Base64 grows attachments by a third: a message that may come near a block is streamed, block by block.
      if ((messageBytes(mail) * 4) / 3 < BLOCK_BYTES - 64 * 1024) {
        await blob.uploadData(Buffer.concat((await message.toArray()) as Buffer[]), { blobHTTPHeaders });
      } else {
        await blob.uploadStream(message, BLOCK_BYTES, 2, { blobHTTPHeaders });
      }
      await send(queuedEnvelope(envelope, blobName), options);
      return blobName;
    },

    /** Puts an envelope already on the queue back, to be seen again after a delay. */
    requeue: send,

    /** A producer's payload blob ("<id>.json"): refused over maxBytes before it is read, and only the bytes measured read. */
    async loadPayload(blobName: string, maxBytes: number): Promise<Buffer> {
      const { blob, bytes, etag } = await measured(blobName, maxBytes);
      if (bytes === 0) return Buffer.alloc(0);
      return blob.downloadToBuffer(0, bytes, { conditions: { ifMatch: etag } });
    },

    /**
     * A composed message as a stream straight from storage (resumed where it broke off if the connection drops): refused
     * over maxBytes before a byte is read, and never more than was measured, even if the blob is replaced meanwhile.
     */
    async openMime(blobName: string, maxBytes: number): Promise<Readable> {
      const { blob, bytes, etag } = await measured(blobName, maxBytes);
      const response = await blob.download(0, bytes || undefined, { conditions: { ifMatch: etag }, maxRetryRequests: 5 });
      return response.readableStreamBody as Readable;
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

/** A payload blob larger than any message within MAIL_MAX_MESSAGE_BYTES can be: never read. */
export class PayloadTooLargeError extends Error {
  constructor(
    readonly blobName: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`payload blob ${blobName} is ${bytes} bytes; at most ${maxBytes} for MAIL_MAX_MESSAGE_BYTES`);
    this.name = 'PayloadTooLargeError';
  }
}
