// Host storage: the Functions host's own account (AzureWebJobsStorage, identity-based: function keys in
// azure-webjobs-secrets, locks, host containers) and the Flex Consumption deployment container holding the app
// package. Nothing of the mail path lives here, and the app's MailStorage connection points at the other account
// (storage.bicep), so no blob name the mail code resolves can reach host secrets or the package.

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

@description('Container the Flex Consumption plan deploys the app package to.')
@minLength(3)
@maxLength(63)
param deploymentContainerName string

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

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
