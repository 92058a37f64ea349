// Creates the queues, table and containers the app uses. In Azure the Bicep does this;
// the local sandbox and the tests call it against Azurite.
import type { MailConfig } from '../config';
import type { StorageClients } from './clients';

export async function provisionStorage(config: MailConfig, storage: StorageClients): Promise<void> {
  await Promise.all([
    storage.queues.getQueueClient(config.queueName).createIfNotExists(),
    storage.queues.getQueueClient(`${config.queueName}-poison`).createIfNotExists(),
    storage.blobs.getContainerClient(config.payloadContainer).createIfNotExists(),
    storage.blobs.getContainerClient(config.governorContainer).createIfNotExists(),
    storage.table(config.statusTable).createTable(),
  ]);
}
