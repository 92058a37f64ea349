// Mail storage: the app's MailStorage connection and nothing else — the outbox queue, the callback queue, their
// poison queues, the status table, the payload and governor containers. The Functions host and the deployment package live in another account
// (host-storage.bicep), and the app identity's roles here are scoped to these queues, this table and these two
// containers, not to the account.

import { hardenedAccountProperties, privateAccountAccess } from 'storage-account.bicep'

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the account.')
param tags object

@description('Private networking: public network access off, the account reached through private endpoints (network.bicep).')
param privateNetwork bool = false

@description('Outbox queue read by the queue trigger (MAIL_QUEUE_NAME). The host moves failed messages to <name>-poison.')
@minLength(3)
@maxLength(56)
param queueName string

@description('Callback queue read by the callback trigger (MAIL_CALLBACK_QUEUE_NAME). The host moves failed messages to <name>-poison.')
@minLength(3)
@maxLength(56)
param callbackQueueName string

@description('Status table (MAIL_STATUS_TABLE).')
@minLength(3)
@maxLength(63)
param statusTableName string

@description('Container for payloads too large for a queue message (MAIL_PAYLOAD_CONTAINER).')
@minLength(3)
@maxLength(63)
param payloadContainerName string

@description('Container for the per-mailbox governor: leases and etag-guarded counters (MAIL_GOVERNOR_CONTAINER).')
@minLength(3)
@maxLength(63)
param governorContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: union(hardenedAccountProperties, privateNetwork ? privateAccountAccess : {})
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in [payloadContainerName, governorContainerName]: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource outboxQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${queueName}-poison'
}

resource callbackQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: callbackQueueName
}

resource callbackPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${callbackQueueName}-poison'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource statusTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: statusTableName
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output outboxQueueName string = outboxQueue.name
output poisonQueueName string = poisonQueue.name
output callbackQueueName string = callbackQueue.name
output callbackPoisonQueueName string = callbackPoisonQueue.name
output statusTableName string = statusTable.name
output payloadContainerName string = containers[0].name
output governorContainerName string = containers[1].name
