#!/usr/bin/env bash
# Runs one command against the Key Vault of a deployment with private networking (VNET_ENABLED), from this machine:
# opens the vault to this machine's address for as long as the command runs, and closes it again however it ends
# (open_vault_to_this_machine in common.sh). A public vault, or one reachable from here, is left as it is.
#
# Usage: infra/scripts/with-vault-access.sh [--vault NAME] COMMAND [ARGS...]
#   bash infra/scripts/with-vault-access.sh az keyvault secret show --vault-name <vault> --name mail-callback-secret --query value -o tsv
# The vault defaults to AZURE_KEY_VAULT_NAME (the azd environment: eval "$(azd env get-values)"). DEPLOYER_IP_ADDRESS
# names this machine's public IPv4 address when the vault does not.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vault=${AZURE_KEY_VAULT_NAME:-}
if [ "${1:-}" = --vault ]; then
  vault=${2:-}
  shift 2
fi
[ $# -gt 0 ] || die "usage: with-vault-access.sh [--vault NAME] COMMAND [ARGS...]"
[ -n "$vault" ] || die "no Key Vault: pass --vault or set AZURE_KEY_VAULT_NAME"

require_az
open_vault_to_this_machine "$vault"
wait_for_vault_access "$vault" secret
"$@"
