// Key Vault for the app registration's credential (client secret or PEM certificate). RBAC authorization only
// (no access policies), soft delete and purge protection on. Bicep never writes a secret into it: the secret or
// certificate is created by infra/scripts/new-client-secret.sh / new-client-certificate.sh.

@description('Key Vault name (3-24 letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the vault.')
param tags object

@description('Private networking: public network access off, the vault reached through its private endpoint (network.bicep). The postprovision hook opens it to the deployer\'s address while it writes a credential (infra/scripts/common.sh).')
param privateNetwork bool = false

@description('Recover the soft-deleted vault of this name (createMode recover) instead of creating one: purge protection keeps a deleted vault 90 days, and its name cannot be reused meanwhile.')
param recover bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    createMode: recover ? 'recover' : 'default'
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: privateNetwork ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetwork ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
      // Declared empty so that every provisioning removes an address the hook left behind.
      ipRules: []
    }
  }
}

output name string = vault.name
output id string = vault.id
