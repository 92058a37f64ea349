#!/bin/sh
# azd preprovision hook (azure.yaml). Stops before anything is created when provisioning would fail half-way, and
# prepares what the deployment needs to know:
#   1. azd deploys with the Azure CLI sign-in (auth.useAzCliAuth), so that the deployment and the hooks act as one
#      account: the hooks work with az (these checks; the postprovision hook writes credentials into Key Vault, where
#      the write role goes to the principal azd deploys as, AZURE_PRINCIPAL_ID). Graph Bicep is not the reason: azd's
#      own sign-in uses the Azure CLI's client id, which Graph Bicep accepts for interactive deployments.
#   2. The subscription's directory is the Microsoft 365 tenant whose mailboxes send: the deployment reads the
#      Exchange Online service principal of that directory and the app's token is for that tenant. The Azure CLI's
#      current directory must be that one too (the hooks' az calls use it).
#   3. Private networking (VNET_ENABLED): the Microsoft.App resource provider is registered.
#   4. Key Vault: the name is fixed per environment and purge protection keeps a deleted vault 90 days, so after
#      `azd down` this environment's vault is soft-deleted and creating it again fails. Sets KEY_VAULT_RECOVER
#      (main.parameters.json -> keyVaultRecover) to true when such a vault exists, false otherwise.
set -eu

fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

value=$(azd config get auth.useAzCliAuth 2>/dev/null || true)
if [ "$(printf '%s' "$value" | tr -d '"[:space:]')" != "true" ]; then
  cat >&2 <<'TEXT'
error: azd does not deploy with the Azure CLI sign-in. The hooks of this template work with az (the checks before
provisioning, the credential the postprovision hook writes into Key Vault), and the Key Vault role that allows that
write goes to the account azd deploys as: with two sign-ins, the hook can act as another account or directory and
fail after the resources exist. Run:

  az login
  azd config set auth.useAzCliAuth true

then `azd up` again. (Or deploy without azd: infra/README.md, "Without azd".)
TEXT
  exit 1
fi

command -v az >/dev/null 2>&1 || fail "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
az account show --only-show-errors -o none 2>/dev/null || fail "the Azure CLI is not signed in: run 'az login' and retry"

# ---- 2. the subscription's directory is the Microsoft 365 tenant --------------------------------------------------
# The hooks' az calls act on the Azure CLI's current subscription and directory: they must be the deployment's.
subscription=${AZURE_SUBSCRIPTION_ID:-}
[ -n "$subscription" ] || fail "AZURE_SUBSCRIPTION_ID is not set: run 'azd env set AZURE_SUBSCRIPTION_ID <subscription id>' and retry"
current=$(az account show --query id -o tsv --only-show-errors)
[ "$current" = "$subscription" ] ||
  fail "the Azure CLI works in subscription $current, azd deploys to $subscription: run 'az account set --subscription $subscription' and retry"
tenant=$(az account show --query tenantId -o tsv --only-show-errors)

# A directory without Exchange Online has no such service principal (not found); any other failure is reported as is.
if ! exchange=$(az ad sp show --id 00000002-0000-0ff1-ce00-000000000000 --query id -o tsv --only-show-errors 2>&1); then
  case $exchange in
    *"does not exist"* | *"doesn't exist"* | *NotFound*) exchange="" ;;
    *) fail "could not read the service principals of directory $tenant (az ad sp show): $(printf '%s' "$exchange" | head -n 1)" ;;
  esac
fi
if [ -z "$exchange" ]; then
  cat >&2 <<TEXT
error: directory $tenant (of subscription $subscription) has no Exchange Online (no service principal of Office 365
Exchange Online, 00000002-0000-0ff1-ce00-000000000000). The subscription's directory must be the Microsoft 365 tenant
whose mailboxes send: the deployment reads that service principal and the app's token is for that tenant. Deploy to
a subscription of the Microsoft 365 tenant (az account list --query "[?tenantId=='<tenant id>']" -o table;
azd env set AZURE_SUBSCRIPTION_ID <id>), or move this subscription to it (Azure portal: the subscription, Change
directory).
TEXT
  exit 1
fi

# Senders of other tenants go through sender profiles; without profiles every sender's domain is this tenant's.
profiles=$(printf '%s' "${MAIL_SENDER_PROFILES:-}" | tr -d '[:space:]')
if [ -n "$profiles" ] && [ "$profiles" != "[]" ]; then
  echo "preprovision: sender profiles set: the sender domains are not checked against directory $tenant"
elif [ -n "${MAIL_ALLOWED_SENDERS:-}" ]; then
  domains=$(az rest --method get --url https://graph.microsoft.com/v1.0/organization \
    --query "value[0].verifiedDomains[].name" -o tsv --only-show-errors 2>/dev/null) ||
    fail "could not read the verified domains of directory $tenant (az rest GET /organization)"
  domains=$(printf '%s' "$domains" | tr '[:upper:]' '[:lower:]')
  missing=""
  for sender in $(printf '%s' "$MAIL_ALLOWED_SENDERS" | tr ',;' '  '); do
    domain=$(printf '%s' "${sender##*@}" | tr '[:upper:]' '[:lower:]')
    printf '%s\n' "$domains" | grep -qxF "$domain" || missing="$missing $sender"
  done
  [ -z "$missing" ] ||
    fail "MAIL_ALLOWED_SENDERS:$missing: not a verified domain of directory $tenant (subscription $subscription). The subscription's directory must be the Microsoft 365 tenant of these mailboxes; for mailboxes of another tenant use MAIL_SENDER_PROFILES."
fi
echo "preprovision: directory $tenant has Exchange Online; azd deploys with the Azure CLI sign-in"

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

# ---- 4. a soft-deleted Key Vault of this environment ---------------------------------------------------------------
env_name=${AZURE_ENV_NAME:-}
printf '%s' "$env_name" | grep -qxE '[A-Za-z0-9._-]{1,64}' || fail "AZURE_ENV_NAME '$env_name' is not an azd environment name"
location=$(printf '%s' "${AZURE_LOCATION:-}" | tr -d ' ' | tr '[:upper:]' '[:lower:]')
# The vault is kv-mail-<token>, tagged azd-env-name; the token derives from subscription, environment and location.
deleted=$(az keyvault list-deleted --subscription "$subscription" --resource-type vault --only-show-errors \
  --query "[?starts_with(name, 'kv-mail-') && properties.tags.\"azd-env-name\" == '$env_name'].[name, properties.location, properties.scheduledPurgeDate]" \
  -o tsv 2>/dev/null) || fail "could not list the soft-deleted Key Vaults of subscription $subscription (az keyvault list-deleted)"
recover=false
while IFS="$(printf '\t')" read -r name where purge; do
  [ -n "$name" ] || continue
  [ "$(printf '%s' "$where" | tr -d ' ' | tr '[:upper:]' '[:lower:]')" = "$location" ] || continue
  recover=true
  echo "preprovision: Key Vault $name of environment $env_name is soft-deleted (azd down; purge protection keeps it until $purge): the deployment recovers it, with the credentials it held"
done <<TEXT
$deleted
TEXT
azd env set KEY_VAULT_RECOVER "$recover" -e "$env_name" >/dev/null || fail "azd env set KEY_VAULT_RECOVER failed"
