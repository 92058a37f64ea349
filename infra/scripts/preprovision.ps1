#Requires -Version 7.0
# azd preprovision hook for Windows (azure.yaml), the same steps as preprovision.sh in PowerShell:
#   1. azd deploys with the Azure CLI sign-in (auth.useAzCliAuth), so that the deployment and the hooks act as one
#      account: the hooks work with az, and the Key Vault write role goes to the principal azd deploys as. Graph
#      Bicep is not the reason: azd's own sign-in uses the Azure CLI's client id, which Graph Bicep accepts.
#   2. The subscription's directory is the Microsoft 365 tenant whose mailboxes send (Exchange Online's service
#      principal there; without sender profiles, every sender's domain verified there), and az works in it.
#   3. Private networking (VNET_ENABLED): the Microsoft.App resource provider is registered.
#   4. KEY_VAULT_RECOVER: true when this environment's Key Vault is soft-deleted (after azd down; purge protection
#      keeps it 90 days and its name is fixed), so the deployment recovers it instead of failing to create it.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Stop-Provisioning([string]$Message) {
    [Console]::Error.WriteLine("error: $Message")
    exit 1
}

$value = (& azd config get auth.useAzCliAuth 2>$null | Out-String).Trim().Trim('"')
if ($value -ne 'true') {
    [Console]::Error.WriteLine(@'
error: azd does not deploy with the Azure CLI sign-in. The hooks of this template work with az (the checks before
provisioning, the credential the postprovision hook writes into Key Vault), and the Key Vault role that allows that
write goes to the account azd deploys as: with two sign-ins, the hook can act as another account or directory and
fail after the resources exist. Run:

  az login
  azd config set auth.useAzCliAuth true

then `azd up` again. (Or deploy without azd: infra/README.md, "Without azd".)
'@)
    exit 1
}

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Stop-Provisioning 'the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli'
}
& az account show --only-show-errors -o none 2>$null
if ($LASTEXITCODE -ne 0) { Stop-Provisioning "the Azure CLI is not signed in: run 'az login' and retry" }

# ---- 2. the subscription's directory is the Microsoft 365 tenant --------------------------------------------------
# The hooks' az calls act on the Azure CLI's current subscription and directory: they must be the deployment's.
$subscription = "$env:AZURE_SUBSCRIPTION_ID"
if (-not $subscription) { Stop-Provisioning "AZURE_SUBSCRIPTION_ID is not set: run 'azd env set AZURE_SUBSCRIPTION_ID <subscription id>' and retry" }
$current = (& az account show --query id -o tsv --only-show-errors | Out-String).Trim()
if ($current -ne $subscription) {
    Stop-Provisioning "the Azure CLI works in subscription $current, azd deploys to ${subscription}: run 'az account set --subscription $subscription' and retry"
}
$tenant = (& az account show --query tenantId -o tsv --only-show-errors | Out-String).Trim()

# A directory without Exchange Online has no such service principal (not found); any other failure is reported as is.
$exchange = (& az ad sp show --id 00000002-0000-0ff1-ce00-000000000000 --query id -o tsv --only-show-errors 2>&1 | Out-String).Trim()
if ($LASTEXITCODE -ne 0) {
    if ($exchange -match "does not exist|doesn't exist|NotFound") { $exchange = '' }
    else { Stop-Provisioning "could not read the service principals of directory $tenant (az ad sp show): $(($exchange -split "`n")[0])" }
}
if (-not $exchange) {
    Stop-Provisioning @"
directory $tenant (of subscription $subscription) has no Exchange Online (no service principal of Office 365
Exchange Online, 00000002-0000-0ff1-ce00-000000000000). The subscription's directory must be the Microsoft 365 tenant
whose mailboxes send: the deployment reads that service principal and the app's token is for that tenant. Deploy to
a subscription of the Microsoft 365 tenant (az account list --query "[?tenantId=='<tenant id>']" -o table;
azd env set AZURE_SUBSCRIPTION_ID <id>), or move this subscription to it (Azure portal: the subscription, Change
directory).
"@
}

# Senders of other tenants go through sender profiles; without profiles every sender's domain is this tenant's.
$profiles = "$env:MAIL_SENDER_PROFILES" -replace '\s', ''
if ($profiles -and $profiles -ne '[]') {
    Write-Host "preprovision: sender profiles set: the sender domains are not checked against directory $tenant"
}
elseif ("$env:MAIL_ALLOWED_SENDERS") {
    $domains = @(& az rest --method get --url https://graph.microsoft.com/v1.0/organization `
            --query 'value[0].verifiedDomains[].name' -o tsv --only-show-errors 2>$null)
    if ($LASTEXITCODE -ne 0) { Stop-Provisioning "could not read the verified domains of directory $tenant (az rest GET /organization)" }
    $verified = @($domains | ForEach-Object { "$_".Trim().ToLowerInvariant() })
    $missing = @("$env:MAIL_ALLOWED_SENDERS" -split '[,;\s]+' | Where-Object { $_ } |
            Where-Object { $verified -notcontains ($_.Substring($_.LastIndexOf('@') + 1).ToLowerInvariant()) })
    if ($missing.Count -gt 0) {
        Stop-Provisioning "MAIL_ALLOWED_SENDERS: $($missing -join ' '): not a verified domain of directory $tenant (subscription $subscription). The subscription's directory must be the Microsoft 365 tenant of these mailboxes; for mailboxes of another tenant use MAIL_SENDER_PROFILES."
    }
}
Write-Host "preprovision: directory $tenant has Exchange Online; azd deploys with the Azure CLI sign-in"

# Private networking: the app's subnet is delegated to Microsoft.App/environments, which the subscription must know.
# The template deploys no Microsoft.App resource, so Resource Manager does not register the provider by itself.
if ("$env:VNET_ENABLED".Trim().ToLowerInvariant() -eq 'true') {
    $state = (& az provider show --namespace Microsoft.App --query registrationState -o tsv --only-show-errors 2>$null | Out-String).Trim()
    if ($state -ne 'Registered') {
        Write-Host 'preprovision: registering the Microsoft.App resource provider (VNET_ENABLED; a few minutes, once per subscription)'
        & az provider register --namespace Microsoft.App --wait --only-show-errors
        if ($LASTEXITCODE -ne 0) {
            [Console]::Error.WriteLine("error: could not register Microsoft.App, which Flex Consumption VNet integration needs: ask a subscription owner to run 'az provider register --namespace Microsoft.App'")
            exit 1
        }
    }
}

# ---- 4. a soft-deleted Key Vault of this environment ---------------------------------------------------------------
$envName = "$env:AZURE_ENV_NAME"
if ($envName -notmatch '^[A-Za-z0-9._-]{1,64}$') { Stop-Provisioning "AZURE_ENV_NAME '$envName' is not an azd environment name" }
$location = ("$env:AZURE_LOCATION" -replace '\s', '').ToLowerInvariant()
# The vault is kv-mail-<token>, tagged azd-env-name; the token derives from subscription, environment and location.
# Filtered here rather than in the query: quotes inside an argument do not reliably reach az.cmd.
$deleted = (& az keyvault list-deleted --subscription $subscription --resource-type vault --only-show-errors `
        --query "[?starts_with(name, 'kv-mail-')]" -o json 2>$null | Out-String)
if ($LASTEXITCODE -ne 0) { Stop-Provisioning "could not list the soft-deleted Key Vaults of subscription $subscription (az keyvault list-deleted)" }
$recover = 'false'
foreach ($vault in @($deleted | ConvertFrom-Json)) {
    if ($null -eq $vault) { continue }
    $tags = $vault.properties.tags
    $vaultEnv = if ($tags -and $tags.PSObject.Properties['azd-env-name']) { $tags.'azd-env-name' } else { '' }
    $vaultLocation = ("$($vault.properties.location)" -replace '\s', '').ToLowerInvariant()
    if ($vaultEnv -ne $envName -or $vaultLocation -ne $location) { continue }
    $recover = 'true'
    Write-Host "preprovision: Key Vault $($vault.name) of environment $envName is soft-deleted (azd down; purge protection keeps it until $($vault.properties.scheduledPurgeDate)): the deployment recovers it, with the credentials it held"
}
& azd env set KEY_VAULT_RECOVER $recover -e $envName | Out-Null
if ($LASTEXITCODE -ne 0) { Stop-Provisioning 'azd env set KEY_VAULT_RECOVER failed' }
