// Flex Consumption (FC1) plan and the Function App. The app settings below are the contract with
// src/config/app-settings.ts SETTINGS; test/infra-settings.test.ts reads the four setting blocks (hostSettings, mailSettings,
// authSettings, optionalSettingCandidates) from the compiled template and fails when they drift apart. They use
// parameters only, never a resource's runtime properties: the compiler inlines a variable that reads those into the
// resource, and the blocks would no longer be data in the compiled template. The fifth block, the sender profiles'
// credential settings, has names only the deployment knows; the test checks that each is a Key Vault reference.

@description('Function App name (globally unique host name).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region (must offer Flex Consumption).')
param location string

@description('Tags applied to plan and app.')
param tags object

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Host storage account: AzureWebJobsStorage and the deployment container.')
param hostStorageAccountName string

@description('Blob container of the host storage account the Flex plan deploys the package to.')
param deploymentContainerName string

@description('Application Insights connection string (not a secret: it identifies the component, and local authentication is off, so ingestion needs an Entra token).')
param applicationInsightsConnectionString string

@description('Queue endpoint of the mail storage account.')
param mailQueueServiceUri string

@description('Blob endpoint of the mail storage account.')
param mailBlobServiceUri string

@description('Table endpoint of the mail storage account.')
param mailTableServiceUri string

@description('Key Vault holding the app registration credential and the sender profiles\' credentials.')
param keyVaultName string

@description('Upper bound of instances the plan scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('MAIL_AUTH_MODE.')
@allowed([
  'managedIdentity'
  'clientSecret'
  'clientCertificate'
  'federatedIdentity'
])
param authMode string

@description('Entra tenant id (MAIL_TENANT_ID in the app registration modes).')
param tenantId string

@description('Client id of the app registration (app registration modes).')
param appClientId string

@description('MAIL_FEDERATION_AUDIENCE (federatedIdentity): audience of the managed identity token exchange.')
param federationAudience string

@description('Name of the Key Vault secret (clientSecret) or certificate (clientCertificate) holding the credential.')
param credentialName string

@description('MAIL_ALLOWED_SENDERS: comma-separated mailboxes or @domains.')
@minLength(3)
param allowedSenders string

@description('MAIL_DEFAULT_SENDER; empty: not set.')
param defaultSender string

@description('MAIL_QUEUE_NAME.')
param queueName string

@description('MAIL_CALLBACK_QUEUE_NAME.')
param callbackQueueName string

@description('MAIL_CALLBACK_HOSTS: hosts a callbackUrl may name, comma-separated; empty: not set, callbacks are refused.')
param callbackHosts string

@description('Key Vault secret holding the callbacks\' signing secret (MAIL_CALLBACK_SECRET), referenced when callbackHosts is set.')
param callbackSecretName string

@description('MAIL_STATUS_TABLE.')
param statusTableName string

@description('MAIL_PAYLOAD_CONTAINER.')
param payloadContainerName string

@description('MAIL_GOVERNOR_CONTAINER.')
param governorContainerName string

@description('MAIL_AUTHORITY_HOST; empty: the code default.')
param authorityHost string

@description('MAIL_TOKEN_SCOPE; empty: the code default.')
param tokenScope string

@description('MAIL_SMTP_HOST; empty: the code default.')
param smtpHost string

@description('MAIL_SMTP_PORT; empty: the code default.')
param smtpPort string

@description('MAIL_SMTP_TLS_MIN_VERSION; empty: the code default.')
param smtpTlsMinVersion string

@description('MAIL_MAX_CONNECTIONS_PER_MAILBOX; empty: the code default.')
param maxConnectionsPerMailbox string

@description('MAIL_MAX_MESSAGES_PER_MINUTE; empty: the code default.')
param maxMessagesPerMinute string

@description('MAIL_MAX_MESSAGE_BYTES; empty: the code default.')
param maxMessageBytes string

@description('MAIL_PUBLIC_BASE_URL; empty: not set.')
param publicBaseUrl string

@description('MAIL_REPORTS_MAILBOXES: mailboxes whose delivery reports the app reads over IMAP, comma-separated; empty: not set, no reports are read.')
param reportMailboxes string

@description('MAIL_CALLERS, the caller policy as JSON; empty: not set (the host checks function keys).')
param callers string

@description('MAIL_SENDER_PROFILES, the sender profiles as JSON; empty: not set (every sender uses the MAIL_* settings).')
param senderProfiles string

// Untyped: a user-defined type would turn this module's compiled template into language version 2.0 (symbolic names)
// for no gain: main.bicep, its only caller, builds the list.
@description('The app settings sender profiles read their credentials from, each with the Key Vault secret behind it: { setting, secretName } objects.')
param profileCredentials array

@description('MAIL_API_AUDIENCE: accepted aud values of callers\' tokens, comma-separated; empty: no API application.')
param apiAudience string

@description('MAIL_API_TENANT_ID: tenant of the API application; empty: no API application.')
param apiTenantId string

@description('Subnet of the Flex Consumption VNet integration (network.bicep), delegated to Microsoft.App/environments; empty: none. Integrated, the app sends all its outbound traffic into the virtual network.')
param virtualNetworkSubnetId string = ''

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

// Settings the Functions host and the platform read, never the app code. Host storage is its own account: the mail
// code's MailStorage connection below points at the other one.
var hostSettings = {
  AzureWebJobsStorage__accountName: hostStorageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Settings src/config/load-config.ts reads in every mode. MAIL_QUEUE_NAME and MAIL_CALLBACK_QUEUE_NAME must be set even though
// the code has defaults: the trigger bindings are '%MAIL_QUEUE_NAME%' and '%MAIL_CALLBACK_QUEUE_NAME%', and the host
// refuses to index a function whose binding expression does not resolve.
var mailSettings = {
  MAIL_AUTH_MODE: authMode
  MAIL_ALLOWED_SENDERS: allowedSenders
  MAIL_QUEUE_NAME: queueName
  MAIL_CALLBACK_QUEUE_NAME: callbackQueueName
  MAIL_STATUS_TABLE: statusTableName
  MAIL_PAYLOAD_CONTAINER: payloadContainerName
  MAIL_GOVERNOR_CONTAINER: governorContainerName
  MailStorage__queueServiceUri: mailQueueServiceUri
  MailStorage__blobServiceUri: mailBlobServiceUri
  MailStorage__tableServiceUri: mailTableServiceUri
  MailStorage__credential: 'managedidentity'
  MailStorage__clientId: identityClientId
}

// A reference, never a value. A Key Vault certificate created with a PEM content type is also readable as a
// secret of the same name whose value is the PEM private key plus certificate, which is what
// MAIL_CLIENT_CERTIFICATE expects.
var keyVaultReference = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${credentialName})'

// Settings that depend on the auth mode.
var authSettings = {
  managedIdentity: {
    MAIL_CLIENT_ID: identityClientId
  }
  clientSecret: {
    MAIL_TENANT_ID: tenantId
    MAIL_CLIENT_ID: appClientId
    MAIL_CLIENT_SECRET: keyVaultReference
  }
  clientCertificate: {
    MAIL_TENANT_ID: tenantId
    MAIL_CLIENT_ID: appClientId
    MAIL_CLIENT_CERTIFICATE: keyVaultReference
  }
  federatedIdentity: {
    MAIL_TENANT_ID: tenantId
    MAIL_CLIENT_ID: appClientId
    MAIL_MANAGED_IDENTITY_CLIENT_ID: identityClientId
    MAIL_FEDERATION_AUDIENCE: federationAudience
  }
}

// The sender profiles' credentials: references, never values, as for the default profile.
var profileCredentialSettings = toObject(
  profileCredentials,
  credential => credential.setting,
  credential => '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${credential.secretName})'
)

// Overrides of code defaults and optional features, set only when a value is given. The API settings are set whenever
// the API application exists, so that callers can be changed in MAIL_CALLERS alone; the code reads them only for
// Entra callers.
var optionalSettingCandidates = {
  MAIL_DEFAULT_SENDER: defaultSender
  MAIL_AUTHORITY_HOST: authorityHost
  MAIL_TOKEN_SCOPE: tokenScope
  MAIL_SMTP_HOST: smtpHost
  MAIL_SMTP_PORT: smtpPort
  MAIL_SMTP_TLS_MIN_VERSION: smtpTlsMinVersion
  MAIL_MAX_CONNECTIONS_PER_MAILBOX: maxConnectionsPerMailbox
  MAIL_MAX_MESSAGES_PER_MINUTE: maxMessagesPerMinute
  MAIL_MAX_MESSAGE_BYTES: maxMessageBytes
  MAIL_PUBLIC_BASE_URL: publicBaseUrl
  MAIL_CALLERS: callers
  MAIL_SENDER_PROFILES: senderProfiles
  MAIL_API_AUDIENCE: apiAudience
  MAIL_API_TENANT_ID: apiTenantId
  MAIL_CALLBACK_HOSTS: callbackHosts
  MAIL_REPORTS_MAILBOXES: reportMailboxes
  // The signing secret only with callbacks on, and as a reference, never a value (the postprovision hook creates it).
  MAIL_CALLBACK_SECRET: empty(callbackHosts) ? '' : '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${callbackSecretName})'
}

var givenOptionalSettings = filter(items(optionalSettingCandidates), setting => !empty(setting.value))
var optionalSettings = toObject(givenOptionalSettings, setting => setting.key, setting => setting.value)

// Profile credentials first: a setting infra sets itself always wins over a profile that names it.
var appSettings = union(profileCredentialSettings, hostSettings, mailSettings, authSettings[authMode], optionalSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: map(items(appSettings), setting => {
        name: setting.key
        value: setting.value
      })
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Deployments (azd, func, CI) authenticate with Entra ID; publishing user names and passwords stay off.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
