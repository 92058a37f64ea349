# Shared helpers for infra/scripts/*.sh (sourced, not run).

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*" >&2; }

require_az() {
  command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
  az account show --only-show-errors -o none 2>/dev/null || die "the Azure CLI is not signed in (azd's sign-in is separate): run 'az login' and retry"
}

# The app registration's steps run as az does, or, for an app registration of another tenant (a sender profile's),
# with the sign-in kept in app_config_dir, while the vault's steps keep the usual sign-in.
az_app() {
  if [ -n "${app_config_dir:-}" ]; then AZURE_CONFIG_DIR=$app_config_dir az "$@"; else az "$@"; fi
}

# $1: the config dir of the app's tenant sign-in, or empty.
require_app_sign_in() {
  local dir=${1:-}
  [ -n "$dir" ] || return 0
  AZURE_CONFIG_DIR=$dir az account show --only-show-errors -o none 2>/dev/null \
    || die "no Azure CLI sign-in in '$dir': run 'AZURE_CONFIG_DIR=$dir az login --tenant <tenant of the app registration> --allow-no-subscriptions' and retry"
}

# Role assignments on a new vault take a few minutes to reach its data plane. Wait for a harmless list call to
# succeed before anything that must not fail half-way (the app credential is generated only once per call).
# $1: vault, $2: secret|certificate
wait_for_vault_access() {
  local vault=$1 kind=$2 tries=0
  until az keyvault "$kind" list --vault-name "$vault" --maxresults 1 --only-show-errors -o none 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
      die "no $kind access on Key Vault '$vault' after 10 minutes: the signed-in principal needs 'Key Vault ${kind^}s Officer' on it (provisioning grants it to AZURE_PRINCIPAL_ID)"
    fi
    note "waiting for Key Vault '$vault' $kind permissions to propagate ($tries/30)..."
    sleep 20
  done
}

# Key Vault references are re-read when the app restarts (otherwise within 24 hours).
restart_app() {
  local group=${1:-} app=${2:-}
  if [ -n "$group" ] && [ -n "$app" ]; then
    note "restarting Function App '$app' so the Key Vault reference is resolved again"
    az functionapp restart --resource-group "$group" --name "$app" --only-show-errors -o none \
      || note "warning: restart failed; the reference refreshes within 24 hours or at the next restart"
  fi
}

# Warnings about grants an earlier deployment made that the current parameters no longer make. Deployments only add
# (incremental mode), so these stay until removed by hand; the commands to do so are printed, never run.
# $1: exchangeAuthorization. Reads the azd environment (main.bicep outputs, AZURE_SUBSCRIPTION_ID).
warn_leftovers() {
  local authorization=$1 sender=${EXO_SENDER_OBJECT_ID:-} identity=${MANAGED_IDENTITY_PRINCIPAL_ID:-}
  if [ "$authorization" = rbacForApplications ] && [ -n "$sender" ]; then
    # An Entra SMTP.SendAsApp grant makes Exchange check mailbox permissions instead of the scoped role assignment.
    local role grants
    role=$(az ad sp show --id 00000002-0000-0ff1-ce00-000000000000 --query "appRoles[?value=='SMTP.SendAsApp'].id | [0]" -o tsv --only-show-errors 2>/dev/null) || return 0
    [ -n "$role" ] || return 0
    grants=$(az rest --method get --url "https://graph.microsoft.com/v1.0/servicePrincipals/$sender/appRoleAssignments" \
      --query "value[?appRoleId=='$role'].id" -o tsv --only-show-errors 2>/dev/null) || return 0
    for grant in $grants; do
      note "warning: the sender still holds the Entra SMTP.SendAsApp grant from an earlier deployment; with RBAC for"
      note "  Applications it must go: az rest --method delete --url https://graph.microsoft.com/v1.0/servicePrincipals/$sender/appRoleAssignments/$grant"
    done
  fi
  if [ -n "$identity" ] && [ -n "${AZURE_SUBSCRIPTION_ID:-}" ] && [ -n "${AZURE_RESOURCE_GROUP:-}" ] && [ -n "${AZURE_STORAGE_ACCOUNT_NAME:-}" ]; then
    # Before host and mail storage were split, the identity held Blob Data Owner on the whole (now mail) account.
    local scope ids
    scope="/subscriptions/$AZURE_SUBSCRIPTION_ID/resourceGroups/$AZURE_RESOURCE_GROUP/providers/Microsoft.Storage/storageAccounts/$AZURE_STORAGE_ACCOUNT_NAME"
    ids=$(az role assignment list --assignee "$identity" --scope "$scope" --role "Storage Blob Data Owner" --query "[].id" -o tsv --only-show-errors 2>/dev/null) || return 0
    for id in $ids; do
      note "warning: the app identity still holds Storage Blob Data Owner on the whole mail storage account (from a"
      note "  deployment before host storage had its own account); remove it: az role assignment delete --ids $id"
    done
  fi
}
