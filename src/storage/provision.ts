// Creates the queues, table and containers the app uses. In Azure the Bicep does this;
// the local sandbox and the tests call it against Azurite.
import type { MailConfig } from '../config';
import type { StorageClients } from './clients';

export async function provisionStorage(config: MailConfig, storage: StorageClients): Promise<void> {
  // All settled before the first failure is reported: a caller that then stops storage (the tests stop Azurite)
  // would otherwise leave the other calls retrying against it for many seconds.
  const results = await Promise.allSettled([
    storage.queues.getQueueClient(config.queueName).createIfNotExists(),
    storage.queues.getQueueClient(`${config.queueName}-poison`).createIfNotExists(),
    storage.queues.getQueueClient(config.callbacks.queueName).createIfNotExists(),
    storage.queues.getQueueClient(`${config.callbacks.queueName}-poison`).createIfNotExists(),
    storage.blobs.getContainerClient(config.payloadContainer).createIfNotExists(),
    storage.blobs.getContainerClient(config.governorContainer).createIfNotExists(),
    storage.table(config.statusTable).createTable(),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
