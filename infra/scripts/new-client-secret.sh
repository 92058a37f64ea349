#!/usr/bin/env bash
# Creates a client secret for the mail app registration directly in Key Vault.
#
# The secret value goes from `az ad app credential reset` to `az keyvault secret set` through a pipe: it is never
# in a shell variable, an argument (visible in ps), a file, the terminal or shell history, and never in a template,
# parameter or deployment output. The app reads it through the MAIL_CLIENT_SECRET Key Vault reference.
#
# Usage: infra/scripts/new-client-secret.sh [--app-id ID] [--vault NAME] [--name SECRET] [--years N] [--rotate]
#                                           [--restart GROUP APP] [--app-config-dir DIR]
# Defaults come from the azd environment (EXO_APP_CLIENT_ID, AZURE_KEY_VAULT_NAME, EXO_CREDENTIAL_NAME,
# AZURE_RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME). Without --rotate an existing secret is kept.
# --app-config-dir: the app registration is in another tenant (a sender profile's): its steps run with the az sign-in
# kept in DIR (AZURE_CONFIG_DIR=DIR az login --tenant <tenant> --allow-no-subscriptions), the vault's with the usual one.
# Needs: az CLI signed in as an owner of the app registration (or Application Administrator) with
# "Key Vault Secrets Officer" on the vault.
set -euo pipefail
. "$(dirname "$0")/common.sh"

app_id=${EXO_APP_CLIENT_ID:-}
vault=${AZURE_KEY_VAULT_NAME:-}
name=${EXO_CREDENTIAL_NAME:-mail-client-credential}
years=1
rotate=false
group=${AZURE_RESOURCE_GROUP:-}
function_app=${AZURE_FUNCTION_APP_NAME:-}
app_config_dir=

while [ $# -gt 0 ]; do
  case $1 in
    --app-id) app_id=$2; shift 2 ;;
    --vault) vault=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --years) years=$2; shift 2 ;;
    --rotate) rotate=true; shift ;;
    --restart) group=$2; function_app=$3; shift 3 ;;
    --app-config-dir) app_config_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ -n "$app_id" ] || die "no app registration: pass --app-id or set EXO_APP_CLIENT_ID"
[ -n "$vault" ] || die "no Key Vault: pass --vault or set AZURE_KEY_VAULT_NAME"

require_az
require_app_sign_in "$app_config_dir"
open_vault_to_this_machine "$vault"
wait_for_vault_access "$vault" secret

existing=$(az keyvault secret list --vault-name "$vault" --query "[?name=='$name'] | length(@)" -o tsv --only-show-errors)
if [ "$existing" != "0" ] && [ "$rotate" != true ]; then
  note "Key Vault secret '$name' already exists in '$vault'; kept (use --rotate for a new one)"
  exit 0
fi
deleted=$(az keyvault secret list-deleted --vault-name "$vault" --query "[?name=='$name'] | length(@)" -o tsv --only-show-errors 2>/dev/null || echo 0)
if [ "$deleted" != "0" ]; then
  die "secret '$name' is soft-deleted in '$vault' (purge protection is on): run 'az keyvault secret recover --vault-name $vault --name $name', then rerun with --rotate"
fi

display="exo-smtp-mailer $(date -u +%Y-%m-%d)"
note "adding client secret '$display' to app $app_id and storing it as Key Vault secret '$vault/$name'"
# --append keeps existing credentials (rotation without downtime). tr drops the newline tsv adds.
version=$(
  az_app ad app credential reset --id "$app_id" --append --display-name "$display" --years "$years" \
      --query password -o tsv --only-show-errors \
    | tr -d '\r\n' \
    | az keyvault secret set --vault-name "$vault" --name "$name" --file /dev/stdin --encoding utf-8 \
      --content-type "client secret of app $app_id" --query id -o tsv --only-show-errors
) || die "storing the secret failed. If 'az ad app credential reset' succeeded, an unused credential named '$display' is left on the app: remove it with 'az ad app credential list --id $app_id' and 'az ad app credential delete --id $app_id --key-id <keyId>'"

note "stored: $version"
note "older secrets stay valid until they expire; list/remove them with 'az ad app credential list --id $app_id'"
restart_app "$group" "$function_app"
