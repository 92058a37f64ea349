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

# Steps run when the script exits, however it ends (error, Ctrl+C, TERM), last registered first.
exit_steps=()
at_exit() {
  exit_steps+=("$1")
  trap run_exit_steps EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}
run_exit_steps() {
  local i
  for ((i = ${#exit_steps[@]} - 1; i >= 0; i--)); do eval "${exit_steps[$i]}" || true; done
}

# Private networking (VNET_ENABLED) turns the vault's public endpoint off, but these scripts run on the deployer's
# machine. Opens the vault to this machine's public IPv4 address alone, for as long as the calling script runs, and
# closes it again when the script exits. Provisioning closes it too (keyvault.bicep declares no address), so an
# interrupted run leaves it open to that one address at most until the next `azd provision`. The address is the one
# the vault sees (behind a proxy or NAT, not this machine's own): a refused call names it. DEPLOYER_IP_ADDRESS
# overrides. Nothing to do when the vault is public, or reachable from here (a machine inside the network).
# $1: vault
open_vault_to_this_machine() {
  local vault=$1 access answer address=${DEPLOYER_IP_ADDRESS:-} tries=0
  access=$(az keyvault show --name "$vault" --query properties.publicNetworkAccess -o tsv --only-show-errors) \
    || die "cannot read Key Vault '$vault'"
  [ "$access" = Disabled ] || return 0
  if az keyvault secret list --vault-name "$vault" --maxresults 1 --only-show-errors -o none 2>/dev/null; then
    return 0
  fi
  note "Key Vault '$vault' takes private traffic only (VNET_ENABLED): opening it to this machine's address while this script runs"
  # Registered before the first change, so that any exit closes it again.
  at_exit "close_vault '$vault'"
  az keyvault update --name "$vault" --public-network-access Enabled --default-action Deny --bypass AzureServices \
    --only-show-errors -o none || die "could not open Key Vault '$vault' (needs Contributor on it)"
  while [ -z "$address" ]; do
    answer=$(az keyvault secret list --vault-name "$vault" --maxresults 1 --only-show-errors -o none 2>&1) && break
    address=$(printf '%s\n' "$answer" | sed -n 's/.*Client address: *\([0-9][0-9.]*\).*/\1/p' | head -n 1)
    [ -n "$address" ] && break
    tries=$((tries + 1))
    if [ "$tries" -ge 12 ]; then
      die "Key Vault '$vault' did not name this machine's address: set DEPLOYER_IP_ADDRESS to this machine's public IPv4 address and retry"
    fi
    sleep 10
  done
  if [ -n "$address" ]; then
    opened_address=$address
    note "allowing $address on Key Vault '$vault' until this script ends"
    az keyvault network-rule add --name "$vault" --ip-address "$address/32" --only-show-errors -o none \
      || die "could not allow $address on Key Vault '$vault'"
  fi
}

# $1: vault. Undoes open_vault_to_this_machine.
close_vault() {
  local vault=$1
  if [ -n "${opened_address:-}" ]; then
    az keyvault network-rule remove --name "$vault" --ip-address "$opened_address/32" --only-show-errors -o none \
      || note "warning: could not remove $opened_address from Key Vault '$vault'"
  fi
  if az keyvault update --name "$vault" --public-network-access Disabled --only-show-errors -o none; then
    note "Key Vault '$vault' takes private traffic only again"
  else
    note "warning: Key Vault '$vault' is still open to this machine: run 'az keyvault update --name $vault --public-network-access Disabled' (or azd provision)"
  fi
}

# Role assignments on a new vault take a few minutes to reach its data plane. Wait for a harmless list call to
# succeed before anything that must not fail half-way (the app credential is generated only once per call).
# $1: vault, $2: secret|certificate
wait_for_vault_access() {
  local vault=$1 kind=$2 tries=0
  until az keyvault "$kind" list --vault-name "$vault" --maxresults 1 --only-show-errors -o none 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
      die "no $kind access on Key Vault '$vault' after 10 minutes: the signed-in principal needs 'Key Vault ${kind^}s Officer' on it (provisioning grants it to AZURE_PRINCIPAL_ID), and with VNET_ENABLED this machine's address must be the one allowed"
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
