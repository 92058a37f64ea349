// Entra ID side of sending through Exchange Online, declared with the Microsoft Graph Bicep extension.
//
//   managedIdentity    no app registration; the user-assigned identity's own service principal is the sender.
//   clientSecret       app registration + service principal. The secret is NOT created here
//   clientCertificate  (Bicep cannot create credentials): infra/scripts/new-client-secret.sh or
//                      new-client-certificate.sh put it straight into Key Vault.
//   federatedIdentity  app registration whose only credential is a federated identity credential trusting the
//                      user-assigned identity: the app gets an MI token for api://AzureADTokenExchange and presents it
//                      as client assertion. No secret exists anywhere.
//
// The registration deliberately declares neither passwordCredentials nor keyCredentials: Graph leaves properties a
// template omits untouched, so credentials added by the scripts survive re-provisioning.
//
// The Entra application permission SMTP.SendAsApp (admin consent) is granted only for the classic Exchange
// onboarding, exchangeAuthorization = mailboxPermission. With RBAC for Applications (the default) Microsoft's SMTP
// onboarding says not to add the permission: the claim in the token makes Exchange check mailbox permissions instead
// of the scoped role assignment. The app role is looked up by its value, not by a hard-coded id.
//
// Reading delivery reports (readDeliveryReports) grants the application permission IMAP.AccessAsApp in every
// exchangeAuthorization: Microsoft's IMAP app-only path is that Entra permission plus Exchange's New-ServicePrincipal
// and Add-MailboxPermission FullAccess on each mailbox (infra/exchange/Register-ExchangeSender.ps1
// -ReadDeliveryReports); RBAC for Applications is not documented for IMAP.
//
// The HTTP API is a second application, separate from the sending app registration: that registration exists only in
// the app registration modes, while callers (a Logic App's managed identity, say) need a resource to get tokens for in
// every mode, and a caller's grant to call the API has nothing to do with the right to send through Exchange.

extension microsoftGraphV1

@description('How the app gets its Exchange Online token; decides what is created here.')
@allowed([
  'managedIdentity'
  'clientSecret'
  'clientCertificate'
  'federatedIdentity'
])
param authMode string

@description('How Exchange Online authorises the sender: rbacForApplications (Exchange role assignment scoped to the mailboxes, no Entra permission) or mailboxPermission (Entra SMTP.SendAsApp + mailbox FullAccess).')
@allowed([
  'rbacForApplications'
  'mailboxPermission'
])
param exchangeAuthorization string

@description('Multi-tenant sending app registration (AzureADMultipleOrgs): consented in each customer tenant, used there by sender profiles.')
param multiTenant bool

@description('A sender profile uses this app registration in federatedIdentity mode, so it trusts the identity whatever authMode is.')
param federatedProfiles bool

@description('The app reads delivery reports from the sending mailboxes over IMAP: grant IMAP.AccessAsApp (admin consent).')
param readDeliveryReports bool

@description('uniqueName of the app registration (immutable alternate key, unique in the tenant).')
param appUniqueName string

@description('Display name of the app registration.')
param appDisplayName string

@description('Principal (object) id of the user-assigned identity.')
param identityPrincipalId string

@description('Client id of the user-assigned identity (its service principal appId).')
param identityClientId string

@description('Issuer of the managed identity tokens, https://<login endpoint>/<tenant id>/v2.0.')
param federationIssuer string

@description('Audience of the token exchange: api://AzureADTokenExchange in the public cloud.')
param federationAudience string

@description('Object id of the deployer, made an owner of the app registration so it can add credentials. Empty: none.')
param ownerObjectId string

@description('Create the API application (the audience of callers\' Entra tokens) with its Mail.Send app role.')
param exposeApi bool

@description('uniqueName of the API application.')
param apiUniqueName string

@description('Display name of the API application.')
param apiDisplayName string

@description('Application ID URI of the API, the audience callers ask tokens for.')
param apiIdentifierUri string

@description('Object ids of service principals (managed identities included) granted Mail.Send on the API.')
param apiCallerPrincipalIds string[]

var exchangeOnlineAppId = '00000002-0000-0ff1-ce00-000000000000'
var smtpSendAsApp = 'SMTP.SendAsApp'
var imapAccessAsApp = 'IMAP.AccessAsApp'
var createApp = authMode != 'managedIdentity'
var grantSmtpSendAsApp = exchangeAuthorization == 'mailboxPermission'
var grantImapAccessAsApp = readDeliveryReports
var trustIdentity = createApp && (authMode == 'federatedIdentity' || federatedProfiles)
// The value the app requires in a token's roles claim to send (SEND_ROLE in src/callers/caller-policy.ts). The id is
// derived, not random, so that every deployment declares the same role: Entra refuses to change the id of an enabled
// role, and assignments refer to it.
var mailSendRole = 'Mail.Send'
var mailSendRoleId = guid(apiUniqueName, mailSendRole)
// Reads statuses without sending (STATUS_READ_ROLE): a dashboard or an auditor.
var mailStatusReadRole = 'MailStatus.Read'
var mailStatusReadRoleId = guid(apiUniqueName, mailStatusReadRole)

// "Office 365 Exchange Online" exists in every tenant with Exchange Online; read it, never create it.
resource exchangeOnline 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: exchangeOnlineAppId
}

var smtpSendAsAppRoleId = filter(exchangeOnline.appRoles, role => role.value == smtpSendAsApp)[0].id
var imapAccessAsAppRoleId = filter(exchangeOnline.appRoles, role => role.value == imapAccessAsApp)[0].id

// Shown as configured API permissions on the registration; the grants themselves are appSmtpGrant and appImapGrant.
var exchangeRoles = concat(grantSmtpSendAsApp ? [smtpSendAsAppRoleId] : [], grantImapAccessAsApp ? [imapAccessAsAppRoleId] : [])
var exchangePermissions = empty(exchangeRoles)
  ? []
  : [
      {
        resourceAppId: exchangeOnlineAppId
        resourceAccess: map(exchangeRoles, roleId => {
          id: roleId
          type: 'Role'
        })
      }
    ]

// Multi-tenant for service providers: one registration, consented by an administrator of each customer tenant (which
// creates its service principal there), and each customer's Exchange authorises that service principal. Its
// credential (or the federated credential) stays here, in the home tenant, for every tenant it gets tokens from.
resource app 'Microsoft.Graph/applications@v1.0' = if (createApp) {
  uniqueName: appUniqueName
  displayName: appDisplayName
  signInAudience: multiTenant ? 'AzureADMultipleOrgs' : 'AzureADMyOrg'
  notes: 'Sends mail through Exchange Online SMTP with OAuth2 (XOAUTH2). Managed by infra/modules/entra.bicep.'
  tags: [
    'exo-smtp-mailer'
  ]
  requiredResourceAccess: exchangePermissions
  owners: {
    relationshipSemantics: 'append'
    relationships: empty(ownerObjectId) ? [] : [ownerObjectId]
  }
}

// Secretless option: trust tokens the user-assigned identity gets for the token-exchange audience. Entra accepts the
// identity's token only for an app registration of the identity's own tenant, so other tenants are reached through
// this registration made multi-tenant, never through a federated credential on theirs.
resource managedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = if (trustIdentity) {
  name: '${appUniqueName}/function-app-managed-identity'
  description: 'The Function App user-assigned managed identity acts as this application (client assertion).'
  issuer: federationIssuer
  subject: identityPrincipalId
  audiences: [
    federationAudience
  ]
  dependsOn: [
    app
  ]
}

// The "Enterprise application". Its object id (not the app registration's) is what Exchange's
// New-ServicePrincipal -ObjectId and the mailbox / RBAC assignments need.
resource appServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = if (createApp) {
  appId: app!.appId
}

resource appSmtpGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (createApp && grantSmtpSendAsApp) {
  appRoleId: smtpSendAsAppRoleId
  principalId: appServicePrincipal!.id
  resourceId: exchangeOnline.id
}

// managedIdentity mode: the identity's own service principal is the sender.
resource identitySmtpGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (!createApp && grantSmtpSendAsApp) {
  appRoleId: smtpSendAsAppRoleId
  principalId: identityPrincipalId
  resourceId: exchangeOnline.id
}

// Reading delivery reports over IMAP, for whichever principal sends (the mailboxes it reads are the ones it sends from).
resource appImapGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (createApp && grantImapAccessAsApp) {
  appRoleId: imapAccessAsAppRoleId
  principalId: appServicePrincipal!.id
  resourceId: exchangeOnline.id
}

resource identityImapGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (!createApp && grantImapAccessAsApp) {
  appRoleId: imapAccessAsAppRoleId
  principalId: identityPrincipalId
  resourceId: exchangeOnline.id
}

// The API callers get tokens for. Version 2 access tokens carry the issuer <authority>/<tenant>/v2.0, the caller's
// client id in azp and the API's client id in aud, which is what the app checks. The ID URI names the tenant rather
// than the app's own appId, which a resource cannot read from itself while it is being created; api://<tenantId>/<name>
// is one of Entra's documented secure forms.
resource api 'Microsoft.Graph/applications@v1.0' = if (exposeApi) {
  uniqueName: apiUniqueName
  displayName: apiDisplayName
  signInAudience: 'AzureADMyOrg'
  notes: 'The exo-smtp-mailer HTTP API: callers with the Mail.Send app role may send mail. Managed by infra/modules/entra.bicep.'
  tags: [
    'exo-smtp-mailer'
  ]
  identifierUris: [
    apiIdentifierUri
  ]
  api: {
    requestedAccessTokenVersion: 2
  }
  // idtyp says "app" or "user" in every access token: the app takes app-only tokens only (and also refuses any token
  // with scp, a delegated token's scopes). The API exposes no delegated scopes at all.
  optionalClaims: {
    accessToken: [
      {
        name: 'idtyp'
      }
    ]
  }
  appRoles: [
    {
      id: mailSendRoleId
      value: mailSendRole
      displayName: 'Send mail'
      description: 'Send mail through the exo-smtp-mailer API, within the senders its caller policy allows; read the status of its own mail; subscribe hooks.'
      allowedMemberTypes: [
        'Application'
      ]
      isEnabled: true
    }
    {
      id: mailStatusReadRoleId
      value: mailStatusReadRole
      displayName: 'Read mail status'
      description: 'Read the status of mail sent through the exo-smtp-mailer API (its own; every caller\'s with readAllStatus), without sending.'
      allowedMemberTypes: [
        'Application'
      ]
      isEnabled: true
    }
  ]
  owners: {
    relationshipSemantics: 'append'
    relationships: empty(ownerObjectId) ? [] : [ownerObjectId]
  }
}

// Assignment required: Entra issues no token for the API to a client without an app role on it, so an arbitrary
// identity of the tenant cannot even present a token.
resource apiServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = if (exposeApi) {
  appId: api!.appId
  appRoleAssignmentRequired: true
}

// Removing an id from the list later does not revoke its grant: deployments only add (see infra/README.md).
resource apiCallerGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for callerPrincipalId in apiCallerPrincipalIds: if (exposeApi) {
    appRoleId: mailSendRoleId
    principalId: callerPrincipalId
    resourceId: apiServicePrincipal!.id
  }
]

@description('Client id of the app registration; empty in managedIdentity mode.')
output appId string = createApp ? app!.appId : ''

@description('Admin consent URL of the multi-tenant app registration, <customer-tenant-id> standing for the tenant; empty when single-tenant.')
output adminConsentUrl string = createApp && multiTenant
  ? '${environment().authentication.loginEndpoint}<customer-tenant-id>/adminconsent?client_id=${app!.appId}'
  : ''

@description('AppId of the principal Exchange must know (New-ServicePrincipal -AppId).')
output senderAppId string = createApp ? app!.appId : identityClientId

@description('Object id of the sending service principal (Enterprise application), for New-ServicePrincipal -ObjectId.')
output senderObjectId string = createApp ? appServicePrincipal!.id : identityPrincipalId

@description('Client id of the API application; empty when the API is not exposed.')
output apiAppId string = exposeApi ? api!.appId : ''

@description('Application ID URI of the API (what a caller asks a token for); empty when the API is not exposed.')
output apiIdentifierUri string = exposeApi ? apiIdentifierUri : ''

@description('Object id of the API\'s service principal, the resourceId of app role assignments.')
output apiServicePrincipalId string = exposeApi ? apiServicePrincipal!.id : ''

@description('Id of the Mail.Send app role, the appRoleId of app role assignments.')
output mailSendRoleId string = exposeApi ? mailSendRoleId : ''

@description('Id of the MailStatus.Read app role, the appRoleId of a read-only caller\'s assignment.')
output mailStatusReadRoleId string = exposeApi ? mailStatusReadRoleId : ''
