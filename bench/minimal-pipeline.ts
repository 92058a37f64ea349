// The minimal exactly-once pipeline the product is measured against: hand-written with the same SDKs, nothing
// else. A producer inserts a status entity and queues the message with the entity's etag; a poller with the
// host's batch settings receives messages, claims each entity with that etag (a second copy loses the claim),
// sends through one pooled nodemailer transport, records the outcome under the claim's etag and deletes the
// message. No validation, governor, retries, deferrals, payload blobs or logging.
import type { QueueClient, DequeuedMessageItem } from '@azure/storage-queue';
import type { TableClient } from '@azure/data-tables';
import type { Transporter } from 'nodemailer';
import type { QueueHostSettings } from '../src/config/host-json';
import { sleep } from './runner';

export interface MinimalMail {
  from: string;
  to: string;
  subject: string;
  text: string;
}

interface Message {
  id: string;
  etag: string;
  mail: MinimalMail;
}

const ROW = 'status';
const statusCode = (error: unknown) => (error as { statusCode?: number }).statusCode;

export function minimalPipeline(queue: QueueClient, table: TableClient, transport: Transporter, host: QueueHostSettings, domain: string) {
  return {
    /** Intake: the record first, then the message, as any exactly-once producer must. */
    async submit(id: string, mail: MinimalMail): Promise<void> {
      const { etag } = await table.createEntity({ partitionKey: id, rowKey: ROW, status: 'queued' });
      const message: Message = { id, etag: etag!, mail };
      await queue.sendMessage(Buffer.from(JSON.stringify(message)).toString('base64'));
    },

    /** Polls like the local host (batchSize, newBatchThreshold) until stop() is called. */
    start(): { stop(): Promise<void> } {
      let stopped = false;
      const inFlight = new Set<Promise<void>>();
      const loop = (async () => {
        while (!stopped) {
          if (inFlight.size > host.newBatchThreshold) {
            await Promise.race(inFlight);
            continue;
          }
          const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: host.batchSize, visibilityTimeout: 600 });
          for (const item of receivedMessageItems) {
            const task = handle(item).finally(() => inFlight.delete(task));
            inFlight.add(task);
          }
          if (receivedMessageItems.length === 0) await sleep(20);
        }
      })();
      return {
        async stop() {
          stopped = true;
          await loop;
          await Promise.all(inFlight);
        },
      };
    },
  };

  async function handle(item: DequeuedMessageItem): Promise<void> {
    const { id, etag, mail } = JSON.parse(Buffer.from(item.messageText, 'base64').toString('utf8')) as Message;
    let claimed: string;
    try {
      claimed = (await table.updateEntity({ partitionKey: id, rowKey: ROW, status: 'sending' }, 'Merge', { etag })).etag!;
    } catch (error) {
      if (statusCode(error) !== 412) throw error;
      // Someone else claimed it: done if they finished, otherwise it shows up again after the visibility timeout.
      const entity = await table.getEntity<{ status: string }>(id, ROW);
      if (entity.status === 'sent') await queue.deleteMessage(item.messageId, item.popReceipt);
      return;
    }
    const info = (await transport.sendMail({ ...mail, messageId: `<${id}@${domain}>` })) as { response: string };
    await table.updateEntity({ partitionKey: id, rowKey: ROW, status: 'sent', reply: info.response }, 'Merge', { etag: claimed });
    await queue.deleteMessage(item.messageId, item.popReceipt);
  }
}
