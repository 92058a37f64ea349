#!/usr/bin/env bash
# Creates the app registration's certificate in Key Vault and uploads only its public part to the app.
#
# Key Vault generates the key pair itself (exportable, so the app can read it), with a PEM content type: the
# certificate's secret is then the PEM private key + certificate that MAIL_CLIENT_CERTIFICATE expects. The private
# key never leaves Key Vault except to the app through the Key Vault reference.
#
# Usage: infra/scripts/new-client-certificate.sh [--app-id ID] [--vault NAME] [--name CERT] [--months N]
#                                                [--subject CN=...] [--rotate] [--restart GROUP APP] [--app-config-dir DIR]
# Defaults come from the azd environment like new-client-secret.sh; --app-config-dir as there (an app registration of
# another tenant). Without --rotate an existing certificate is kept (its public part is still uploaded to the app if
# missing there). --rotate creates a new version; the
# reference (no version) follows it, the old key credential stays on the app until you delete it.
# Needs: az CLI signed in as an owner of the app registration (or Application Administrator) with
# "Key Vault Certificates Officer" on the vault.
set -euo pipefail
. "$(dirname "$0")/common.sh"

app_id=${EXO_APP_CLIENT_ID:-}
vault=${AZURE_KEY_VAULT_NAME:-}
name=${EXO_CREDENTIAL_NAME:-mail-client-credential}
months=12
subject="CN=exo-smtp-mailer"
rotate=false
group=${AZURE_RESOURCE_GROUP:-}
function_app=${AZURE_FUNCTION_APP_NAME:-}
app_config_dir=

while [ $# -gt 0 ]; do
  case $1 in
    --app-id) app_id=$2; shift 2 ;;
    --vault) vault=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --months) months=$2; shift 2 ;;
    --subject) subject=$2; shift 2 ;;
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
wait_for_vault_access "$vault" certificate

work=$(mktemp -d)
at_exit "rm -rf '$work'"

thumbprint=$(az keyvault certificate show --vault-name "$vault" --name "$name" --query x509ThumbprintHex -o tsv --only-show-errors 2>/dev/null || true)
changed=false
if [ -z "$thumbprint" ] || [ "$rotate" = true ]; then
  cat > "$work/policy.json" <<JSON
{
  "issuerParameters": { "name": "Self" },
  "keyProperties": { "exportable": true, "keyType": "RSA", "keySize": 2048, "reuseKey": false },
  "secretProperties": { "contentType": "application/x-pem-file" },
  "x509CertificateProperties": {
    "subject": "$subject",
    "validityInMonths": $months,
    "keyUsage": ["digitalSignature", "keyEncipherment"],
    "ekus": ["1.3.6.1.5.5.7.3.2"]
  },
  "lifetimeActions": [
    { "trigger": { "daysBeforeExpiry": 30 }, "action": { "actionType": "EmailContacts" } }
  ]
}
JSON
  note "creating certificate '$name' in Key Vault '$vault' ($subject, $months months, PEM)"
  az keyvault certificate create --vault-name "$vault" --name "$name" --policy "@$work/policy.json" \
    --only-show-errors -o none
  thumbprint=$(az keyvault certificate show --vault-name "$vault" --name "$name" --query x509ThumbprintHex -o tsv --only-show-errors)
  changed=true
else
  note "certificate '$name' already exists in '$vault' (thumbprint $thumbprint); kept (use --rotate for a new version)"
fi

# Upload the public certificate unless the app already has a key credential with this thumbprint.
if az_app ad app credential list --id "$app_id" --cert --query "[].customKeyIdentifier" -o tsv --only-show-errors \
    | grep -qi "^${thumbprint}$"; then
  note "app $app_id already trusts certificate $thumbprint"
else
  az keyvault certificate download --vault-name "$vault" --name "$name" --encoding PEM --file "$work/public.pem" --only-show-errors
  note "adding the public certificate $thumbprint to app $app_id (existing credentials are kept)"
  az_app ad app credential reset --id "$app_id" --cert "@$work/public.pem" --append --only-show-errors -o none
  changed=true
fi

if [ "$changed" = true ]; then
  restart_app "$group" "$function_app"
fi
