// The one user-assigned managed identity the Function App uses for everything: host storage, the MailStorage
// connection, the Flex deployment container, Key Vault references, Application Insights and (in
// managedIdentity mode) the Exchange Online token itself.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
