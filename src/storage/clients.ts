// Storage clients from the MailStorage connection: a connection string locally, a managed identity in Azure.
// The storage SDKs load with this module: every function but openApi uses storage on its first call, the queue
// function always, so deferring them would only move the cost to the first request. @azure/identity is loaded on
// the first token request (./managed-identity), so connection strings never load it.
import { lazyManagedIdentity } from '../identity/managed-identity';
import { QueueServiceClient } from '@azure/storage-queue';
import { BlobServiceClient } from '@azure/storage-blob';
import { TableClient } from '@azure/data-tables';

export interface StorageConnection {
  /** A connection string (Azurite, or an account key where shared keys are allowed). */
  connectionString?: string;
  /** Identity-based connection: service endpoints plus an optional user-assigned identity client id. */
  queueServiceUri?: string;
  blobServiceUri?: string;
  tableServiceUri?: string;
  clientId?: string;
}

export interface StorageClients {
  queues: QueueServiceClient;
  blobs: BlobServiceClient;
  table(name: string): TableClient;
}

export function createStorageClients(connection: StorageConnection): StorageClients {
  if (connection.connectionString) {
    const cs = connection.connectionString;
    return {
      queues: QueueServiceClient.fromConnectionString(cs),
      blobs: BlobServiceClient.fromConnectionString(cs),
      // Azurite speaks plain http; the tables SDK refuses that unless told.
      table: (name) =>
        TableClient.fromConnectionString(cs, name, {
          allowInsecureConnection: /https?:\/\/(127\.0\.0\.1|localhost)|UseDevelopmentStorage/i.test(cs),
        }),
    };
  }
  const credential = lazyManagedIdentity(connection.clientId);
  return {
    queues: new QueueServiceClient(connection.queueServiceUri!, credential),
    blobs: new BlobServiceClient(connection.blobServiceUri!, credential),
    table: (name) => new TableClient(connection.tableServiceUri!, name, credential),
  };
}
