// exo-smtp-mailer: Azure Functions on Flex Consumption sending mail through Exchange Online SMTP with OAuth2.
// Deploy with `azd up` (parameters from main.parameters.json) or `az deployment sub create` (see infra/README.md).

targetScope = 'subscription'

import { appSubnetName } from 'modules/network.bicep'

@description('azd environment name; names and tags derive from it.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region for every resource; must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@minLength(1)
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the person or pipeline deploying (azd: AZURE_PRINCIPAL_ID). Gets the Key Vault role needed to create the credential and owns the app registration. Empty: none.')
param principalId string = ''

@description('Principal type of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('How the app gets its Exchange Online token (MAIL_AUTH_MODE). federatedIdentity: secretless app registration trusting the user-assigned identity.')
@allowed([
  'managedIdentity'
  'clientSecret'
  'clientCertificate'
  'federatedIdentity'
])
param authMode string = 'federatedIdentity'

@description('How Exchange Online authorises the sender. rbacForApplications: an Exchange role assignment (Application SMTP.SendAsApp) scoped to the sending mailboxes, and no Entra permission. mailboxPermission: the classic onboarding, Entra SMTP.SendAsApp with admin consent plus mailbox FullAccess. Drives the Entra grant here, the postprovision hook and the printed Exchange command.')
@allowed([
  'rbacForApplications'
  'mailboxPermission'
])
param exchangeAuthorization string = 'rbacForApplications'

@description('MAIL_ALLOWED_SENDERS: comma-separated mailboxes that may appear in from; @contoso.com allows a domain.')
@minLength(3)
param allowedSenders string

@description('MAIL_DEFAULT_SENDER: sender when a request has none; must be allowed. Empty: not set.')
param defaultSender string = ''

@description('Name of the Key Vault secret (clientSecret) or certificate (clientCertificate) holding the app credential.')
@minLength(1)
@maxLength(127)
param credentialName string = 'mail-client-credential'

@description('Recover this environment\'s soft-deleted Key Vault instead of creating it (azd: KEY_VAULT_RECOVER, set by the preprovision hook). The vault name is fixed per environment and purge protection keeps a deleted vault 90 days, so after azd down the next azd up must recover it: creating fails while it exists, recovering fails when it does not.')
param keyVaultRecover bool = false

@description('App registration uniqueName and display name stem; empty: exo-smtp-mailer-<token>.')
param appRegistrationName string = ''

@description('Audience of the managed identity token exchange (federatedIdentity): api://AzureADTokenExchange in the public cloud, api://AzureADTokenExchangeUSGov, api://AzureADTokenExchangeChina elsewhere.')
param federationAudience string = 'api://AzureADTokenExchange'

@description('Outbox queue (MAIL_QUEUE_NAME); <name>-poison is created too.')
@minLength(3)
@maxLength(56)
param queueName string = 'mail-outbox'

@description('Callback queue (MAIL_CALLBACK_QUEUE_NAME); <name>-poison is created too.')
@minLength(3)
@maxLength(56)
param callbackQueueName string = 'mail-callbacks'

@description('MAIL_CALLBACK_HOSTS: hosts a request\'s callbackUrl may name, comma-separated (hooks.contoso.com, *.contoso.com) (azd: MAIL_CALLBACK_HOSTS). Empty: callbacks are refused. Set: the signing secret is a Key Vault reference to callbackSecretName, which the postprovision hook creates.')
param callbackHosts string = ''

@description('Key Vault secret holding the callbacks\' Standard Webhooks signing secret (whsec_...).')
param callbackSecretName string = 'mail-callback-secret'

@description('Status table (MAIL_STATUS_TABLE).')
param statusTableName string = 'mailstatus'

@description('Container for large payloads (MAIL_PAYLOAD_CONTAINER).')
param payloadContainerName string = 'mail-payloads'

@description('Container for the per-mailbox governor (MAIL_GOVERNOR_CONTAINER).')
param governorContainerName string = 'mail-governor'

@description('Flex Consumption maximum instance count. Exchange limits are per mailbox, not per instance: the governor enforces them across instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('MAIL_AUTHORITY_HOST override (sovereign clouds); empty: code default.')
param authorityHost string = ''

@description('MAIL_TOKEN_SCOPE override; empty: code default.')
param tokenScope string = ''

@description('MAIL_SMTP_HOST override; empty: code default.')
param smtpHost string = ''

@description('MAIL_SMTP_PORT override; empty: code default.')
param smtpPort string = ''

@description('MAIL_SMTP_TLS_MIN_VERSION override; empty: code default.')
param smtpTlsMinVersion string = ''

@description('MAIL_MAX_CONNECTIONS_PER_MAILBOX override; empty: code default.')
param maxConnectionsPerMailbox string = ''

@description('MAIL_MAX_MESSAGES_PER_MINUTE override; empty: code default.')
param maxMessagesPerMinute string = ''

@description('MAIL_MAX_MESSAGE_BYTES override; empty: code default.')
param maxMessageBytes string = ''

@description('MAIL_PUBLIC_BASE_URL: origin of the status URLs in Location headers, e.g. https://mail.contoso.com behind a gateway (azd: MAIL_PUBLIC_BASE_URL). Empty: not set; the app uses its own host name.')
param publicBaseUrl string = ''

@description('Create the API application (Entra) that callers get tokens for, with its Mail.Send app role (azd: EXPOSE_API). false: no Entra object for the API, callers only by function key or caller key; needed only where the deployer may not create applications.')
param exposeApi bool = true

@description('API application uniqueName and display name stem; empty: exo-smtp-mailer-api-<token>.')
param apiAppName string = ''

@description('Application ID URI of the API; empty: api://<tenant id>/<apiAppName>. E.g. https://mail.contoso.com/api (a verified domain), or api://<API_APP_ID> on a later deployment.')
param apiIdentifierUri string = ''

@description('MAIL_CALLERS: who may call the HTTP API and as whom each may send (azd: MAIL_CALLERS, a JSON list; see the README, "Callers"). Empty: not set, the Functions host checks function keys.')
param mailCallers caller[] = []

@description('MAIL_SENDER_PROFILES: mailboxes or @domains that send through another tenant, app registration, credential, token scope or SMTP endpoint (azd: MAIL_SENDER_PROFILES, a JSON list; see the README, "Sender profiles"). A clientSecret/clientCertificate profile gets the app setting it names as a Key Vault reference. Empty: not set, every sender uses the MAIL_* settings.')
param senderProfiles senderProfile[] = []

@description('Make the sending app registration multi-tenant (signInAudience AzureADMultipleOrgs), so that an administrator of each customer tenant can consent to it (output EXO_ADMIN_CONSENT_URL) and sender profiles can use it there (azd: EXO_MULTI_TENANT). false: this tenant only.')
param multiTenantApp bool = false

@description('Object ids of service principals granted the API\'s Mail.Send app role, e.g. Logic Apps\' managed identities (their principal id) (azd: API_CALLER_PRINCIPAL_IDS, a JSON list). Removing an id does not revoke its grant.')
param apiCallerPrincipalIds string[] = []

@description('Comma-separated e-mail addresses notified when an alert fires (azd: ALERT_EMAILS). Empty: no action group; the alerts still fire and show under Azure Monitor > Alerts.')
param alertEmailAddresses string = ''

@description('Failure rate alert: fires when at least this percentage of the messages finished in an hour failed for good (azd: ALERT_FAILURE_RATE_PERCENT).')
@minValue(1)
@maxValue(100)
param alertFailureRatePercent int = 10

@description('Queue age alert: fires when a message was due this many minutes ago and the worker has not taken it up (azd: ALERT_QUEUE_AGE_MINUTES). 0: no queue age rule (for example when mail is often scheduled with sendAt further ahead: the intake log cannot tell it from a stuck message). 1 to 9 count as 10.')
@minValue(0)
@maxValue(1440)
param alertQueueAgeMinutes int = 15

@description('Read delivery reports (bounces, delays) from the sending mailboxes over IMAP (azd: READ_DELIVERY_REPORTS): grants the Entra application permission IMAP.AccessAsApp to the sender and sets MAIL_REPORTS_MAILBOXES from reportMailboxes. Exchange also needs the mailbox permission: infra/exchange/Register-ExchangeSender.ps1 -ReadDeliveryReports.')
param readDeliveryReports bool = false

@description('MAIL_REPORTS_MAILBOXES with readDeliveryReports: comma-separated sending mailboxes whose reports are read (azd: MAIL_REPORTS_MAILBOXES). Required when readDeliveryReports is true; ignored otherwise.')
param reportMailboxes string = ''

@description('Private networking (azd: VNET_ENABLED): the Function App joins a virtual network (Flex Consumption VNet integration) and reaches both storage accounts and the Key Vault through private endpoints, their public network access off; internet traffic (Exchange Online SMTP, Entra ID, Application Insights, callbacks) leaves through a NAT gateway. See infra/README.md, "Private networking".')
param vnetEnabled bool = false

// One entry of MAIL_CALLERS. Only the shape is checked here (so a misspelt field fails the deployment rather than the
// app's start); the app validates the values. test/infra-settings.test.ts keeps the fields equal to the code's schema.
@sealed()
type caller = {
  name: string
  keySha256: string?
  entraAppId: string?
  entraRole: string?
  senders: string[]
  defaultSender: string?
  recipientDomains: string[]?
  dailyQuota: int?
  readAllStatus: bool?
}

// One entry of MAIL_SENDER_PROFILES, sealed like caller. It never holds a credential: it names the app setting that
// does, and that setting is a Key Vault reference (profileCredentials below). test/infra-settings.test.ts keeps the
// fields equal to the code's schema.
@sealed()
type senderProfile = {
  name: string
  senders: string[]
  authMode: 'managedIdentity' | 'clientSecret' | 'clientCertificate' | 'federatedIdentity'
  tenantId: string?
  clientId: string?
  clientSecretSetting: string?
  clientCertificateSetting: string?
  managedIdentityClientId: string?
  federationAudience: string?
  authorityHost: string?
  scope: string?
  smtpHost: string?
  smtpPort: int?
  maxConnectionsPerMailbox: int?
  maxMessagesPerMinute: int?
  maxRecipientsPerDay: int?
}

// The app setting a profile's credential is read from; empty for the modes without one.
func credentialSettingOf(profile senderProfile) string =>
  profile.authMode == 'clientSecret'
    ? profile.?clientSecretSetting ?? ''
    : (profile.authMode == 'clientCertificate' ? profile.?clientCertificateSetting ?? '' : '')

// A profile without clientId in an app registration mode uses this deployment's app registration.
func usesOwnApp(profile senderProfile) bool => profile.authMode != 'managedIdentity' && empty(profile.?clientId ?? '')

// The Key Vault secret behind a credential setting, named after it (MAIL_FABRIKAM_CLIENT_SECRET ->
// mail-fabrikam-client-secret): one secret per setting, so profiles that name the same setting share it, and distinct
// settings never collide (setting names are upper case, digits and underscores).
func secretNameOf(setting string) string => toLower(replace(setting, '_', '-'))

// Microsoft Graph Bicep deploys in the public cloud only (not Azure Government or Azure China), and modules/entra.bicep
// needs it. Stop at the first resource, before anything is created, instead of failing half-way.
var publicCloud = environment().name == 'AzureCloud'
// Entra callers need the API application: without it there is no audience to check their tokens against. Checked
// with the cloud, before anything is created.
var entraCallers = filter(mailCallers, entry => !empty(entry.?entraAppId ?? '') || !empty(entry.?entraRole ?? ''))
var apiInputsConsistent = exposeApi || (empty(entraCallers) && empty(apiCallerPrincipalIds))
// Sender profiles: infra must know each credential's setting to make it a Key Vault reference, and a profile that
// relies on this deployment's app registration needs one (every mode but managedIdentity), multi-tenant when the
// profile is in another tenant. Checked with the cloud, before anything is created; the app checks the rest at start.
var profilesWithoutCredentialSetting = map(
  filter(senderProfiles, profile => (profile.authMode == 'clientSecret' || profile.authMode == 'clientCertificate') && empty(credentialSettingOf(profile))),
  profile => profile.name
)
var ownAppProfiles = filter(senderProfiles, profile => usesOwnApp(profile))
var profilesWithoutApp = authMode == 'managedIdentity' ? map(ownAppProfiles, profile => profile.name) : []
var profilesInOtherTenants = multiTenantApp
  ? []
  : map(filter(ownAppProfiles, profile => !empty(profile.?tenantId ?? '') && toLower(profile.?tenantId ?? '') != toLower(tenant().tenantId)), profile => profile.name)
var resourceGroupNameChecked = !publicCloud
  ? fail('This template supports the Azure public cloud only: its Entra objects use Microsoft Graph Bicep, which does not deploy to ${environment().name}. See infra/README.md, "Sovereign clouds".')
  : !apiInputsConsistent
      ? fail('exposeApi is false, but mailCallers has entraAppId/entraRole callers or apiCallerPrincipalIds is not empty: both need the API application.')
      : !empty(profilesWithoutCredentialSetting)
          ? fail('senderProfiles ${join(profilesWithoutCredentialSetting, ', ')}: a clientSecret profile needs clientSecretSetting, a clientCertificate profile clientCertificateSetting (the name of the app setting that holds the credential).')
          : !empty(profilesWithoutApp)
              ? fail('senderProfiles ${join(profilesWithoutApp, ', ')}: without clientId they use this deployment\'s app registration, which authMode managedIdentity does not create; give their clientId.')
              : !empty(profilesInOtherTenants)
                  ? fail('senderProfiles ${join(profilesInOtherTenants, ', ')}: another tenant than ${tenant().tenantId} through this deployment\'s app registration, which is single-tenant: set multiTenantApp (EXO_MULTI_TENANT=true), give the clientId of an app registration of that tenant, or give the tenant as its id.')
                  : readDeliveryReports && empty(trim(reportMailboxes))
                      ? fail('readDeliveryReports is true but reportMailboxes is empty: name the sending mailboxes whose delivery reports are read (MAIL_REPORTS_MAILBOXES).')
                      : (empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName)

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var appRegistrationMode = authMode != 'managedIdentity'
var keyVaultCredential = authMode == 'clientSecret' || authMode == 'clientCertificate'
var appUniqueName = empty(appRegistrationName) ? 'exo-smtp-mailer-${resourceToken}' : appRegistrationName
var apiUniqueName = empty(apiAppName) ? 'exo-smtp-mailer-api-${resourceToken}' : apiAppName
// Names are computed here, not read from module outputs, so what-if can predict every resource id.
var identityName = 'id-mail-${resourceToken}'
// Two storage accounts: host storage (AzureWebJobsStorage, deployment package) and mail storage (MailStorage), so
// the mail path cannot reach host secrets or the package. The mail account keeps the name of the former single
// account; see infra/README.md for upgrading a deployment made with one account.
var hostStorageAccountName = 'sthost${resourceToken}'
var mailStorageAccountName = 'stmail${resourceToken}'
var keyVaultName = 'kv-mail-${resourceToken}'
var applicationInsightsName = 'appi-mail-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var vnetName = 'vnet-mail-${resourceToken}'
// Credentials of sender profiles besides the default one's: once per app setting (profiles may share one), each a
// Key Vault reference to the secret named after the setting. A profile that names the default profile's own
// credential setting (MAIL_CLIENT_SECRET in clientSecret mode, MAIL_CLIENT_CERTIFICATE in clientCertificate mode) shares
// that credential, which infra sets already.
var defaultCredentialSetting = authMode == 'clientSecret' ? 'MAIL_CLIENT_SECRET' : (authMode == 'clientCertificate' ? 'MAIL_CLIENT_CERTIFICATE' : '')
var profileCredentialSettingNames = reduce(
  map(senderProfiles, profile => credentialSettingOf(profile)),
  [],
  (names, setting) => empty(setting) || setting == defaultCredentialSetting || contains(names, setting) ? names : concat(names, [setting])
)
var profileCredentials = map(profileCredentialSettingNames, setting => {
  setting: setting
  secretName: secretNameOf(setting)
})
var profileSecrets = filter(senderProfiles, profile => profile.authMode == 'clientSecret' && credentialSettingOf(profile) != defaultCredentialSetting)
var profileCertificates = filter(senderProfiles, profile => profile.authMode == 'clientCertificate' && credentialSettingOf(profile) != defaultCredentialSetting)
var alertEmails = filter(map(split(alertEmailAddresses, ','), address => trim(address)), address => !empty(address))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupNameChecked
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: identityName
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-mail-${resourceToken}'
    applicationInsightsName: applicationInsightsName
    location: location
    tags: tags
  }
}

module hostStorage 'modules/host-storage.bicep' = {
  name: 'host-storage'
  scope: rg
  params: {
    name: hostStorageAccountName
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    privateNetwork: vnetEnabled
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: mailStorageAccountName
    location: location
    tags: tags
    queueName: queueName
    callbackQueueName: callbackQueueName
    statusTableName: statusTableName
    payloadContainerName: payloadContainerName
    governorContainerName: governorContainerName
    privateNetwork: vnetEnabled
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
    privateNetwork: vnetEnabled
    recover: keyVaultRecover
  }
}

// With vnetEnabled: the virtual network, the private endpoints of both storage accounts and the vault, their DNS
// zones, and the NAT gateway SMTP leaves through.
module network 'modules/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    name: vnetName
    location: location
    tags: tags
    natGatewayName: 'ng-mail-${resourceToken}'
    storageAccountNames: [
      hostStorageAccountName
      mailStorageAccountName
    ]
    keyVaultName: keyVaultName
  }
  dependsOn: [
    hostStorage
    storage
    keyVault
  ]
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityName: identityName
    identityPrincipalId: identity.outputs.principalId
    hostStorageAccountName: hostStorageAccountName
    mailStorageAccountName: mailStorageAccountName
    queueName: queueName
    callbackQueueName: callbackQueueName
    statusTableName: statusTableName
    payloadContainerName: payloadContainerName
    governorContainerName: governorContainerName
    keyVaultName: keyVaultName
    applicationInsightsName: applicationInsightsName
    keyVaultReferences: keyVaultCredential || !empty(profileCredentials) || !empty(callbackHosts)
    // The deployer (or the postprovision hook as the deployer) writes the credentials into the vault, and the
    // callbacks' signing secret.
    deployerSecretsAccess: authMode == 'clientSecret' || !empty(profileSecrets) || !empty(callbackHosts)
    deployerCertificatesAccess: authMode == 'clientCertificate' || !empty(profileCertificates)
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
  dependsOn: [
    hostStorage
    storage
    keyVault
    monitoring
  ]
}

module entra 'modules/entra.bicep' = {
  name: 'entra'
  scope: rg
  params: {
    authMode: authMode
    exchangeAuthorization: exchangeAuthorization
    multiTenant: multiTenantApp
    federatedProfiles: !empty(filter(ownAppProfiles, profile => profile.authMode == 'federatedIdentity'))
    appUniqueName: appUniqueName
    appDisplayName: '${appUniqueName} (${environmentName})'
    identityPrincipalId: identity.outputs.principalId
    identityClientId: identity.outputs.clientId
    federationIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    federationAudience: federationAudience
    ownerObjectId: principalType == 'Group' ? '' : principalId
    exposeApi: exposeApi
    apiUniqueName: apiUniqueName
    apiDisplayName: '${apiUniqueName} (${environmentName})'
    apiIdentifierUri: empty(apiIdentifierUri) ? 'api://${tenant().tenantId}/${apiUniqueName}' : apiIdentifierUri
    apiCallerPrincipalIds: apiCallerPrincipalIds
    readDeliveryReports: readDeliveryReports
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-mail-${resourceToken}'
    planName: 'plan-mail-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostStorageAccountName: hostStorageAccountName
    deploymentContainerName: deploymentContainerName
    mailQueueServiceUri: storage.outputs.queueEndpoint
    mailBlobServiceUri: storage.outputs.blobEndpoint
    mailTableServiceUri: storage.outputs.tableEndpoint
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    keyVaultName: keyVaultName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    authMode: authMode
    tenantId: tenant().tenantId
    appClientId: entra.outputs.appId
    federationAudience: federationAudience
    credentialName: credentialName
    allowedSenders: allowedSenders
    defaultSender: defaultSender
    queueName: queueName
    callbackQueueName: callbackQueueName
    callbackHosts: callbackHosts
    callbackSecretName: callbackSecretName
    statusTableName: statusTableName
    payloadContainerName: payloadContainerName
    governorContainerName: governorContainerName
    authorityHost: authorityHost
    tokenScope: tokenScope
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpTlsMinVersion: smtpTlsMinVersion
    maxConnectionsPerMailbox: maxConnectionsPerMailbox
    maxMessagesPerMinute: maxMessagesPerMinute
    maxMessageBytes: maxMessageBytes
    publicBaseUrl: publicBaseUrl
    reportMailboxes: readDeliveryReports ? reportMailboxes : ''
    callers: empty(mailCallers) ? '' : string(mailCallers)
    senderProfiles: empty(senderProfiles) ? '' : string(deployedSenderProfiles)
    profileCredentials: profileCredentials
    // v2 tokens carry the client id as aud; the ID URI is what v1 tokens would carry.
    apiAudience: exposeApi ? '${entra.outputs.apiAppId},${entra.outputs.apiIdentifierUri}' : ''
    apiTenantId: exposeApi ? tenant().tenantId : ''
    virtualNetworkSubnetId: vnetEnabled ? '${rg.id}/providers/Microsoft.Network/virtualNetworks/${vnetName}/subnets/${appSubnetName}' : ''
  }
  // The app must not start before its identity may read storage, the vault and App Insights (the mail storage and
  // monitoring modules come first anyway: their outputs are parameters above).
  dependsOn: [
    rbac
    hostStorage
    keyVault
    // Its storage is reachable only through the private endpoints once vnetEnabled.
    network
  ]
}

// Sender profiles as the app gets them, with what a profile leaves out filled in from this deployment: an app
// registration mode's clientId is the sending app registration; a managedIdentity profile's clientId and a
// federatedIdentity profile's managedIdentityClientId are the app's identity, the only one the Function App has.
var deployedSenderProfiles = map(
  senderProfiles,
  profile =>
    union(
      profile,
      usesOwnApp(profile) ? { clientId: entra.outputs.appId } : {},
      profile.authMode == 'managedIdentity' && empty(profile.?clientId ?? '') ? { clientId: identity.outputs.clientId } : {},
      profile.authMode == 'federatedIdentity' && empty(profile.?managedIdentityClientId ?? '')
        ? { managedIdentityClientId: identity.outputs.clientId }
        : {}
    )
)

// Alert rules and the "Mail delivery" workbook over the app's log lines in Application Insights.
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    nameSuffix: resourceToken
    applicationInsightsName: applicationInsightsName
    queueName: queueName
    emailReceivers: alertEmails
    failureRatePercent: alertFailureRatePercent
    queueAgeMinutes: alertQueueAgeMinutes
  }
  dependsOn: [
    monitoring
  ]
}

// azd writes these into .azure/<env>/.env; infra/scripts/postprovision.sh reads them. None is secret.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOST string = functionApp.outputs.defaultHostName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_HOST_STORAGE_ACCOUNT_NAME string = hostStorage.outputs.name
// vnetEnabled: the one public address the app's outbound connections (SMTP included) come from; empty otherwise.
output AZURE_OUTBOUND_IP_ADDRESS string = vnetEnabled ? network!.outputs.natPublicIpAddress : ''
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output EXO_AUTH_MODE string = authMode
output EXO_AUTHORIZATION string = exchangeAuthorization
output EXO_APP_REGISTRATION bool = appRegistrationMode
output EXO_CREDENTIAL_NAME string = keyVaultCredential ? credentialName : ''
output EXO_CALLBACK_SIGNING_KEY_NAME string = empty(callbackHosts) ? '' : callbackSecretName
output EXO_APP_CLIENT_ID string = entra.outputs.appId
output EXO_SENDER_APP_ID string = entra.outputs.senderAppId
output EXO_SENDER_OBJECT_ID string = entra.outputs.senderObjectId
// The API callers present Entra tokens for (empty with exposeApi=false): the audience a Logic App's HTTP action asks
// for, and the ids an app role assignment of Mail.Send needs (see the README, "Callers").
output API_AUDIENCE string = entra.outputs.apiIdentifierUri
output API_APP_ID string = entra.outputs.apiAppId
output API_SERVICE_PRINCIPAL_ID string = entra.outputs.apiServicePrincipalId
output API_MAIL_SEND_ROLE_ID string = entra.outputs.mailSendRoleId
output API_MAIL_STATUS_READ_ROLE_ID string = entra.outputs.mailStatusReadRoleId
// Multi-tenant app registration: the URL an administrator of a customer tenant opens to consent (which creates the
// app's service principal there); <customer-tenant-id> is a placeholder. Empty when the registration is single-tenant.
output EXO_ADMIN_CONSENT_URL string = entra.outputs.adminConsentUrl
// What the postprovision hook needs per sender profile (the credential to create, the consent, the Exchange command),
// as JSON. Names and ids only: the credentials themselves are in Key Vault.
output EXO_SENDER_PROFILES string = string(map(senderProfiles, profile => {
  name: profile.name
  // A managed identity gets tokens of its own tenant only.
  tenantId: profile.authMode == 'managedIdentity' ? tenant().tenantId : profile.?tenantId ?? ''
  appId: usesOwnApp(profile)
    ? entra.outputs.appId
    : (profile.authMode == 'managedIdentity' && empty(profile.?clientId ?? '') ? identity.outputs.clientId : profile.?clientId ?? '')
  authMode: profile.authMode
  ownApp: usesOwnApp(profile)
  senders: profile.senders
  credentialKind: profile.authMode == 'clientSecret' ? 'secret' : (profile.authMode == 'clientCertificate' ? 'certificate' : '')
  credentialSetting: credentialSettingOf(profile)
  sharesDefaultCredential: !empty(credentialSettingOf(profile)) && credentialSettingOf(profile) == defaultCredentialSetting
  keyVaultSecret: empty(credentialSettingOf(profile))
    ? ''
    : (credentialSettingOf(profile) == defaultCredentialSetting ? credentialName : secretNameOf(credentialSettingOf(profile)))
}))
