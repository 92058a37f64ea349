# Shared helpers for infra/scripts/*.sh (sourced, not run).

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*" >&2; }

require_az() {
  command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
  az account show --only-show-errors -o none 2>/dev/null || die "the Azure CLI is not signed in (azd's sign-in is separate): run 'az login' and retry"
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
