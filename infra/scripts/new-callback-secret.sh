#!/usr/bin/env bash
# Creates the callbacks' master secret (Standard Webhooks form: whsec_ + base64 of 32 random bytes) directly in Key
# Vault. Nothing is signed with it: each caller's signing secret is derived from it; hand a caller its own with
# infra/scripts/callback-secret.sh --caller <name>.
#
# The value goes from the random source to `az keyvault secret set` through a pipe: never in a shell variable, an
# argument (visible in ps), a file or a deployment output. The app reads it through the MAIL_CALLBACK_SECRET reference.
#
# Usage: infra/scripts/new-callback-secret.sh [--vault NAME] [--name SECRET] [--rotate | --finish-rotation] [--restart GROUP APP]
# Defaults come from the azd environment (AZURE_KEY_VAULT_NAME, EXO_CALLBACK_SIGNING_KEY_NAME, AZURE_RESOURCE_GROUP,
# AZURE_FUNCTION_APP_NAME). Without an option an existing secret is kept. Rotation has two steps, so no receiver misses
# a callback: --rotate adds a new master after the current one (callbacks then carry a signature with each; hand every
# caller its new secret), --finish-rotation keeps only the new one.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vault=${AZURE_KEY_VAULT_NAME:-}
name=${EXO_CALLBACK_SIGNING_KEY_NAME:-mail-callback-secret}
mode=create
group=${AZURE_RESOURCE_GROUP:-}
function_app=${AZURE_FUNCTION_APP_NAME:-}

while [ $# -gt 0 ]; do
  case $1 in
    --vault) vault=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --rotate) mode=rotate; shift ;;
    --finish-rotation) mode=finish; shift ;;
    --restart) group=$2; function_app=$3; shift 3 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ -n "$vault" ] || die "no Key Vault: pass --vault or set AZURE_KEY_VAULT_NAME"

require_az
open_vault_to_this_machine "$vault"
wait_for_vault_access "$vault" secret

existing=$(az keyvault secret list --vault-name "$vault" --query "[?name=='$name'] | length(@)" -o tsv --only-show-errors)
if [ "$existing" != "0" ] && [ "$mode" = create ]; then
  note "Key Vault secret '$name' already exists in '$vault'; kept (--rotate to begin a rotation)"
  exit 0
fi
if [ "$existing" = "0" ] && [ "$mode" != create ]; then
  die "there is no Key Vault secret '$name' in '$vault' to rotate"
fi

# Reads the current value from stdin and writes the new one: a new master alone, the current ones and a new one, or
# the last one. Only node sees the values.
transform() {
  node -e "
    const current = require('node:fs').readFileSync(0, 'utf8').trim().split(' ').filter(Boolean);
    const fresh = 'whsec_' + require('node:crypto').randomBytes(32).toString('base64');
    const mode = process.argv[1];
    if (mode === 'rotate' && current.length > 1) { process.stderr.write('a rotation is under way: --finish-rotation first\\n'); process.exit(1); }
    process.stdout.write(mode === 'rotate' ? current.concat(fresh).join(' ') : mode === 'finish' ? current[current.length - 1] : fresh);
  " "$mode"
}

current() {
  if [ "$mode" = create ]; then printf ''; else az keyvault secret show --vault-name "$vault" --name "$name" --query value -o tsv --only-show-errors; fi
}

case $mode in
  create) note "storing a new callback master secret as Key Vault secret '$vault/$name'" ;;
  rotate) note "adding a new callback master secret after the current one in '$vault/$name' (both sign until --finish-rotation)" ;;
  finish) note "keeping only the newest callback master secret in '$vault/$name'" ;;
esac
version=$(
  current | transform \
    | az keyvault secret set --vault-name "$vault" --name "$name" --file /dev/stdin --encoding utf-8 \
      --content-type "Master secret of the mail callbacks (Standard Webhooks form; one, or two while rotating)" --query id -o tsv --only-show-errors
) || die "storing the callback secret failed"
note "stored: $version"
note "hand each caller its own secret: bash infra/scripts/callback-secret.sh --vault $vault --name $name --caller <caller>"
restart_app "$group" "$function_app"
