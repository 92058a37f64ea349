// Properties shared by both storage accounts (host-storage.bicep, storage.bicep): shared keys off, so every
// caller uses Entra ID; no public blobs; TLS 1.2; no cross-tenant replication. With private networking
// (network.bicep) the public endpoint is off as well and the accounts answer through their private endpoints only.

@export()
@description('StorageV2 account properties every account of this template uses.')
var hardenedAccountProperties = {
  accessTier: 'Hot'
  allowBlobPublicAccess: false
  allowSharedKeyAccess: false
  allowCrossTenantReplication: false
  defaultToOAuthAuthentication: true
  minimumTlsVersion: 'TLS1_2'
  supportsHttpsTrafficOnly: true
  publicNetworkAccess: 'Enabled'
  networkAcls: {
    defaultAction: 'Allow'
    bypass: 'AzureServices'
  }
}

@export()
@description('What replaces the public access of hardenedAccountProperties with private networking: private endpoints only.')
var privateAccountAccess = {
  publicNetworkAccess: 'Disabled'
  networkAcls: {
    defaultAction: 'Deny'
    bypass: 'None'
  }
}
