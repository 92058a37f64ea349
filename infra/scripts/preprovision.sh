#!/bin/sh
# azd preprovision hook (azure.yaml). Stops before anything is created when provisioning would fail half-way:
# the Microsoft Graph resources in modules/entra.bicep accept interactive deployments only from an Azure CLI or
# Azure PowerShell sign-in, so azd must deploy with the Azure CLI token; the postprovision scripts use az too.
set -eu

value=$(azd config get auth.useAzCliAuth 2>/dev/null || true)
if [ "$(printf '%s' "$value" | tr -d '"[:space:]')" != "true" ]; then
  cat >&2 <<'TEXT'
error: azd does not use the Azure CLI sign-in, and the Microsoft Graph resources (app registration, service
principal, app role grant) are refused to any other interactive sign-in. Run:

  az login
  azd config set auth.useAzCliAuth true

then `azd up` again. (Or deploy without azd: infra/README.md, "Without azd".)
TEXT
  exit 1
fi

if ! command -v az >/dev/null 2>&1; then
  echo "error: the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli" >&2
  exit 1
fi
if ! az account show --only-show-errors -o none 2>/dev/null; then
  echo "error: the Azure CLI is not signed in: run 'az login' and retry" >&2
  exit 1
fi
echo "preprovision: azd deploys with the Azure CLI sign-in"

# Private networking: the app's subnet is delegated to Microsoft.App/environments, which the subscription must know.
# The template deploys no Microsoft.App resource, so Resource Manager does not register the provider by itself.
if [ "$(printf '%s' "${VNET_ENABLED:-false}" | tr '[:upper:]' '[:lower:]')" = "true" ]; then
  state=$(az provider show --namespace Microsoft.App --query registrationState -o tsv --only-show-errors 2>/dev/null || true)
  if [ "$state" != "Registered" ]; then
    echo "preprovision: registering the Microsoft.App resource provider (VNET_ENABLED; a few minutes, once per subscription)"
    if ! az provider register --namespace Microsoft.App --wait --only-show-errors; then
      echo "error: could not register Microsoft.App, which Flex Consumption VNet integration needs: ask a subscription owner to run 'az provider register --namespace Microsoft.App'" >&2
      exit 1
    fi
  fi
fi
