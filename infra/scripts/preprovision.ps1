#Requires -Version 7.0
# azd preprovision hook for Windows (azure.yaml), the same checks as preprovision.sh in PowerShell: the Microsoft
# Graph resources accept interactive deployments only from an Azure CLI or Azure PowerShell sign-in, so azd must
# deploy with the Azure CLI token; the postprovision scripts use az too.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$value = (& azd config get auth.useAzCliAuth 2>$null | Out-String).Trim().Trim('"')
if ($value -ne 'true') {
    [Console]::Error.WriteLine(@'
error: azd does not use the Azure CLI sign-in, and the Microsoft Graph resources (app registration, service
principal, app role grant) are refused to any other interactive sign-in. Run:

  az login
  azd config set auth.useAzCliAuth true

then `azd up` again. (Or deploy without azd: infra/README.md, "Without azd".)
'@)
    exit 1
}

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    [Console]::Error.WriteLine('error: the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli')
    exit 1
}
& az account show --only-show-errors -o none 2>$null
if ($LASTEXITCODE -ne 0) {
    [Console]::Error.WriteLine("error: the Azure CLI is not signed in: run 'az login' and retry")
    exit 1
}
Write-Host 'preprovision: azd deploys with the Azure CLI sign-in'

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
