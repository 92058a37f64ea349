// Creates the queues, table and containers the app uses. In Azure the Bicep does this;
// the local sandbox and the tests call it against Azurite.
import type { StorageClients } from './clients';

/** The names of what the app keeps in storage, as the configuration gives them. */
export interface StorageNames {
  queueName: string;
  callbacks: { queueName: string };
  payloadContainer: string;
  governorContainer: string;
  statusTable: string;
}

export async function provisionStorage(config: StorageNames, storage: StorageClients): Promise<void> {
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
