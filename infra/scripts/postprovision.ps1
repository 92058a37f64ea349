#Requires -Version 7.0
<#
.SYNOPSIS
azd postprovision hook for Windows (azure.yaml): the same steps as postprovision.sh, in PowerShell.

.DESCRIPTION
azd exports the outputs of infra/main.bicep as environment variables.
  managedIdentity, federatedIdentity  nothing to create (no bash needed at all)
  clientSecret, clientCertificate     new-client-secret.sh / new-client-certificate.sh, run with Git for Windows'
                                      bash. Every value goes to them as an argument: a `bash` found on PATH may be
                                      WSL's, which sees neither azd's variables nor the Windows az sign-in.
Then the same for each sender profile whose credential is on this deployment's app registration (sender-profiles.mjs
lists them), and the callbacks' signing secret when callbacks are on (new-callback-secret.sh). Then prints the steps per tenant (admin consent, other tenants' credentials) and one Exchange Online
onboarding command per tenant and app for EXO_AUTHORIZATION, after warning about grants an earlier deployment left
behind. Changes nothing in Exchange and deletes nothing.
#>
[CmdletBinding(SupportsShouldProcess)]
param()

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$here = $PSScriptRoot

function Get-Setting([string] $Name, [string] $Default = '') {
    $value = [Environment]::GetEnvironmentVariable($Name)
    if ([string]::IsNullOrEmpty($value)) { return $Default }
    return $value
}

$mode = Get-Setting 'EXO_AUTH_MODE'
if (-not $mode) { throw 'EXO_AUTH_MODE missing: run this through azd (postprovision hook) or set the main.bicep outputs' }
$authorization = Get-Setting 'EXO_AUTHORIZATION' 'rbacForApplications'

# ---- credentials ----------------------------------------------------------------------------------------------------
# Runs new-client-secret.sh / new-client-certificate.sh with Git for Windows' bash, by its install location; never
# whatever `bash` PATH finds first.
function Invoke-CredentialScript([string] $Kind, [string] $Name, [string] $Why) {
    $bash = @(
        (Join-Path ${env:ProgramFiles} 'Git\bin\bash.exe'),
        (Join-Path ${env:LOCALAPPDATA} 'Programs\Git\bin\bash.exe')
    ) | Where-Object { $_ -and (Test-Path $_) } | Select-Object -First 1
    $script = if ($Kind -eq 'secret') { 'new-client-secret.sh' } elseif ($Kind -eq 'callback') { 'new-callback-secret.sh' } else { 'new-client-certificate.sh' }
    if (-not $bash) {
        throw "$Why needs infra/scripts/$script, which needs Git for Windows' bash (https://git-scm.com/download/win). Install it and run 'azd provision' again, or choose federatedIdentity, which has no credential to create."
    }
    # The callbacks' signing secret belongs to no app registration.
    $app = if ($Kind -eq 'callback') { @() } else { @('--app-id', (Get-Setting 'EXO_APP_CLIENT_ID')) }
    $arguments = @(
        (Join-Path $here $script)
    ) + $app + @(
        '--vault', (Get-Setting 'AZURE_KEY_VAULT_NAME'),
        '--name', $Name,
        '--restart', (Get-Setting 'AZURE_RESOURCE_GROUP'), (Get-Setting 'AZURE_FUNCTION_APP_NAME')
    )
    if ($PSCmdlet.ShouldProcess("$script --name $Name", 'create the app credential in Key Vault (once)')) {
        & $bash @arguments
        if ($LASTEXITCODE -ne 0) { throw "$script failed (exit $LASTEXITCODE)" }
    }
}

if ($mode -in 'clientSecret', 'clientCertificate') {
    $kind = if ($mode -eq 'clientSecret') { 'secret' } else { 'certificate' }
    Invoke-CredentialScript $kind (Get-Setting 'EXO_CREDENTIAL_NAME' 'mail-client-credential') "auth mode $mode"
}
elseif ($mode -in 'managedIdentity', 'federatedIdentity') {
    Write-Host "auth mode ${mode}: no credential to create"
}
else {
    throw "unknown EXO_AUTH_MODE '$mode'"
}

# Sender profile credentials on this app registration: one Key Vault secret or certificate each (kept if it exists).
$profileCredentials = @(& node (Join-Path $here 'sender-profiles.mjs') credentials)
if ($LASTEXITCODE -ne 0) { throw "sender-profiles.mjs failed (exit $LASTEXITCODE)" }
foreach ($line in $profileCredentials | Where-Object { $_ }) {
    $kind, $name = $line -split "`t", 2
    Write-Host "sender profile credential: Key Vault $kind '$name'"
    Invoke-CredentialScript $kind $name "the sender profile credential $name"
}

# Callbacks on (MAIL_CALLBACK_HOSTS): their signing secret, referenced by MAIL_CALLBACK_SECRET (kept if it exists).
$callbackSecret = Get-Setting 'EXO_CALLBACK_SIGNING_KEY_NAME'
if ($callbackSecret) {
    Invoke-CredentialScript 'callback' $callbackSecret 'the callback signing secret'
}

if ($authorization -notin 'rbacForApplications', 'mailboxPermission') {
    throw "unknown EXO_AUTHORIZATION '$authorization' (rbacForApplications or mailboxPermission)"
}

# ---- leftovers of earlier deployments (best effort, never fatal) -------------------------------------------------
$sender = Get-Setting 'EXO_SENDER_OBJECT_ID'
$identity = Get-Setting 'MANAGED_IDENTITY_PRINCIPAL_ID'
if (Get-Command az -ErrorAction SilentlyContinue) {
    try {
        if ($authorization -eq 'rbacForApplications' -and $sender) {
            # An Entra SMTP.SendAsApp grant makes Exchange check mailbox permissions instead of the scoped role assignment.
            $role = (& az ad sp show --id 00000002-0000-0ff1-ce00-000000000000 --query "appRoles[?value=='SMTP.SendAsApp'].id | [0]" -o tsv --only-show-errors 2>$null | Out-String).Trim()
            if ($role) {
                $grants = @(& az rest --method get --url "https://graph.microsoft.com/v1.0/servicePrincipals/$sender/appRoleAssignments" --query "value[?appRoleId=='$role'].id" -o tsv --only-show-errors 2>$null | Where-Object { $_ })
                foreach ($grant in $grants) {
                    Write-Warning "the sender still holds the Entra SMTP.SendAsApp grant from an earlier deployment; with RBAC for Applications it must go: az rest --method delete --url https://graph.microsoft.com/v1.0/servicePrincipals/$sender/appRoleAssignments/$grant"
                }
            }
        }
        $subscription = Get-Setting 'AZURE_SUBSCRIPTION_ID'
        $group = Get-Setting 'AZURE_RESOURCE_GROUP'
        $account = Get-Setting 'AZURE_STORAGE_ACCOUNT_NAME'
        if ($identity -and $subscription -and $group -and $account) {
            # Before host and mail storage were split, the identity held Blob Data Owner on the whole (now mail) account.
            $scope = "/subscriptions/$subscription/resourceGroups/$group/providers/Microsoft.Storage/storageAccounts/$account"
            $ids = @(& az role assignment list --assignee $identity --scope $scope --role 'Storage Blob Data Owner' --query '[].id' -o tsv --only-show-errors 2>$null | Where-Object { $_ })
            foreach ($id in $ids) {
                Write-Warning "the app identity still holds Storage Blob Data Owner on the whole mail storage account (from a deployment before host storage had its own account); remove it: az role assignment delete --ids $id"
            }
        }
    }
    catch {
        Write-Verbose "leftover check skipped: $($_.Exception.Message)"
    }
}

# ---- the next steps ---------------------------------------------------------------------------------------------------
# Consent and credentials in other tenants, then one Exchange command per tenant and app (the default profile's
# mailboxes are those of MAIL_ALLOWED_SENDERS no sender profile serves).
& node (Join-Path $here 'sender-profiles.mjs') next --pwsh
if ($LASTEXITCODE -ne 0) { throw "sender-profiles.mjs failed (exit $LASTEXITCODE)" }
