// Least-privilege role assignments. Every assignment is scoped to the narrowest resource Azure RBAC supports for
// that role and need; the README's table explains each one.
//
// Role assignment names derive from names known before deployment (not from principal ids, which are runtime
// values), so they are stable and what-if can predict them.

@description('Name of the user-assigned identity (deterministic part of the role assignment names).')
param identityName string

@description('Principal (object) id of the user-assigned identity the Function App runs as.')
param identityPrincipalId string

@description('Host storage account: AzureWebJobsStorage and the Flex deployment container.')
param hostStorageAccountName string

@description('Mail storage account: the MailStorage queues, table and containers.')
param mailStorageAccountName string

@description('Outbox queue name; the trigger also writes <name>-poison.')
param queueName string

@description('Callback queue name; the callback trigger also writes <name>-poison.')
param callbackQueueName string

@description('Status table name.')
param statusTableName string

@description('Container for large payloads.')
param payloadContainerName string

@description('Container for the per-mailbox governor.')
param governorContainerName string

@description('Key Vault holding the app registration credential.')
param keyVaultName string

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('True when app settings contain a Key Vault reference (clientSecret / clientCertificate modes, sender profile credentials).')
param keyVaultReferences bool

@description('The deployer writes client secrets into the vault (clientSecret mode, or a clientSecret sender profile): Key Vault Secrets Officer.')
param deployerSecretsAccess bool

@description('The deployer creates certificates in the vault (clientCertificate mode, or a clientCertificate sender profile): Key Vault Certificates Officer.')
param deployerCertificatesAccess bool

@description('Object id of the person or pipeline running the deployment (azd: AZURE_PRINCIPAL_ID). Empty: no deployer roles.')
param deployerPrincipalId string

@description('Principal type of deployerPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string

// Built-in role definition ids (identical in every Azure cloud).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource mailStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: mailStorageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource payloadContainer 'containers' existing = {
      name: payloadContainerName
    }

    resource governorContainer 'containers' existing = {
      name: governorContainerName
    }
  }

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource outboxQueue 'queues' existing = {
      name: queueName
    }

    resource poisonQueue 'queues' existing = {
      name: '${queueName}-poison'
    }

    resource callbackQueue 'queues' existing = {
      name: callbackQueueName
    }

    resource callbackPoisonQueue 'queues' existing = {
      name: '${callbackQueueName}-poison'
    }
  }

  resource tableService 'tableServices' existing = {
    name: 'default'

    resource statusTable 'tables' existing = {
      name: statusTableName
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Host storage (AzureWebJobsStorage__*): the host keeps function keys, locks and its own containers in blobs and
// creates those containers, which needs an account-level data role; the documented role for identity-based host
// storage is Storage Blob Data Owner. It also covers the Flex deployment container (the platform reads the package
// with this identity). Account-wide, but on the host account only: it holds nothing of the mail path.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identityName, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Functions host storage and the Flex deployment container'
  }
}

// Mail blobs, each role scoped to its container: payloads too large for a queue message, and the governor's leases
// and etag-guarded counters. Blob-level reads, writes, leases and deletes only; the code creates no containers.
resource payloadContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailStorage::blobService::payloadContainer.id, identityName, roles.storageBlobDataContributor)
  scope: mailStorage::blobService::payloadContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Mail payload blobs (claim check)'
  }
}

resource governorContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailStorage::blobService::governorContainer.id, identityName, roles.storageBlobDataContributor)
  scope: mailStorage::blobService::governorContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Per-mailbox governor: connection slot leases and rate counters'
  }
}

// MailStorage queue access, scoped to the two queues themselves: the HTTP function enqueues, the trigger peeks,
// updates and deletes, the host moves failures to <queue>-poison. No other queue in the account is reachable.
resource outboxQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailStorage::queueService::outboxQueue.id, identityName, roles.storageQueueDataContributor)
  scope: mailStorage::queueService::outboxQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Outbox queue: enqueue (HTTP function) and dequeue (queue trigger)'
  }
}

resource poisonQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailStorage::queueService::poisonQueue.id, identityName, roles.storageQueueDataContributor)
  scope: mailStorage::queueService::poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Poison queue: the Functions host moves messages here after maxDequeueCount'
  }
}

// The callback queue and its poison queue, scoped the same way: the worker enqueues a callback when a mail is final,
// the callback trigger dequeues it and re-queues it with a delay to retry.
resource callbackQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailStorage::queueService::callbackQueue.id, identityName, roles.storageQueueDataContributor)
  scope: mailStorage::queueService::callbackQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Callback queue: enqueue (queue trigger, on a final outcome) and dequeue and retry (callback trigger)'
  }
}

resource callbackPoisonQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailStorage::queueService::callbackPoisonQueue.id, identityName, roles.storageQueueDataContributor)
  scope: mailStorage::queueService::callbackPoisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Callback poison queue: the Functions host moves messages here after maxDequeueCount'
  }
}

// Status records: one table, scoped to that table.
resource statusTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailStorage::tableService::statusTable.id, identityName, roles.storageTableDataContributor)
  scope: mailStorage::tableService::statusTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Per-message status records'
  }
}

// Key Vault references resolve with keyVaultReferenceIdentity (the default credential and the sender profiles'). Scoped
// to the vault (which holds nothing else): a secret-scoped assignment is not possible here because the secrets are
// created after provisioning, by script or by the operator.
resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (keyVaultReferences) {
  name: guid(vault.id, identityName, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Resolve the MAIL_CLIENT_SECRET / MAIL_CLIENT_CERTIFICATE Key Vault reference'
  }
}

// Application Insights has local auth disabled: telemetry needs an Entra token with this role on the component.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityName, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Send telemetry to Application Insights with Entra authentication'
  }
}

// The deployer writes the credentials into the vault (infra/scripts/new-client-*.sh, or `az keyvault secret set` for a
// sender profile's). With RBAC authorization even a subscription Owner has no data-plane access without these. Names
// and descriptions are those of the single assignment made before there could be both, so an existing one is
// redeployed unchanged.
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId) && deployerSecretsAccess) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'Create the mail app registration credential in Key Vault (infra/scripts)'
  }
}

resource deployerCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId) && deployerCertificatesAccess) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCertificatesOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'Create the mail app registration credential in Key Vault (infra/scripts)'
  }
}
