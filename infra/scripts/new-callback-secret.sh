#!/usr/bin/env bash
# Creates the callbacks' signing secret (Standard Webhooks: whsec_ + base64 of 32 random bytes) directly in Key Vault.
# Receivers verify callbacks with it: read it once with 'az keyvault secret show' and give it to them.
#
# The value goes from the random source to `az keyvault secret set` through a pipe: never in a shell variable, an
# argument (visible in ps), a file or a deployment output. The app reads it through the MAIL_CALLBACK_SECRET reference.
#
# Usage: infra/scripts/new-callback-secret.sh [--vault NAME] [--name SECRET] [--rotate] [--restart GROUP APP]
# Defaults come from the azd environment (AZURE_KEY_VAULT_NAME, EXO_CALLBACK_SIGNING_KEY_NAME, AZURE_RESOURCE_GROUP,
# AZURE_FUNCTION_APP_NAME). Without --rotate an existing secret is kept. Rotating replaces it at once: receivers
# then need the new one.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vault=${AZURE_KEY_VAULT_NAME:-}
name=${EXO_CALLBACK_SIGNING_KEY_NAME:-mail-callback-secret}
rotate=false
group=${AZURE_RESOURCE_GROUP:-}
function_app=${AZURE_FUNCTION_APP_NAME:-}

while [ $# -gt 0 ]; do
  case $1 in
    --vault) vault=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --rotate) rotate=true; shift ;;
    --restart) group=$2; function_app=$3; shift 3 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ -n "$vault" ] || die "no Key Vault: pass --vault or set AZURE_KEY_VAULT_NAME"

require_az
open_vault_to_this_machine "$vault"
wait_for_vault_access "$vault" secret

existing=$(az keyvault secret list --vault-name "$vault" --query "[?name=='$name'] | length(@)" -o tsv --only-show-errors)
if [ "$existing" != "0" ] && [ "$rotate" != true ]; then
  note "Key Vault secret '$name' already exists in '$vault'; kept (use --rotate for a new one)"
  exit 0
fi

note "storing a new callback signing secret as Key Vault secret '$vault/$name'"
version=$(
  node -e "process.stdout.write('whsec_' + require('node:crypto').randomBytes(32).toString('base64'))" \
    | az keyvault secret set --vault-name "$vault" --name "$name" --file /dev/stdin --encoding utf-8 \
      --content-type "Standard Webhooks signing secret of the mail callbacks" --query id -o tsv --only-show-errors
) || die "storing the callback secret failed"
note "stored: $version"
note "give receivers the value: az keyvault secret show --vault-name $vault --name $name --query value -o tsv"
restart_app "$group" "$function_app"
