#!/usr/bin/env bash
# azd postprovision hook (azure.yaml). azd exports the outputs of infra/main.bicep as environment variables.
#   clientSecret       -> new-client-secret.sh      (once; existing secret kept)
#   clientCertificate  -> new-client-certificate.sh (once; existing certificate kept)
#   managedIdentity, federatedIdentity -> nothing to create
# Then prints the Exchange Online onboarding command for the sending principal.
set -euo pipefail
here=$(dirname "$0")
. "$here/common.sh"

mode=${EXO_AUTH_MODE:?EXO_AUTH_MODE missing: run this through azd (postprovision hook) or export the main.bicep outputs}

case $mode in
  clientSecret) bash "$here/new-client-secret.sh" ;;
  clientCertificate) bash "$here/new-client-certificate.sh" ;;
  managedIdentity|federatedIdentity) note "auth mode $mode: no credential to create" ;;
  *) die "unknown EXO_AUTH_MODE '$mode'" ;;
esac

cat >&2 <<TEXT

Next: authorise the sender in Exchange Online (PowerShell 7, module ExchangeOnlineManagement, an Exchange
administrator). The ServicePrincipalObjectId is the ENTERPRISE APPLICATION's object id (service principal),
not the app registration's object id:

  pwsh ./infra/exchange/Register-ExchangeSender.ps1 \`
    -AppId ${EXO_SENDER_APP_ID:-<appId>} \`
    -ServicePrincipalObjectId ${EXO_SENDER_OBJECT_ID:-<objectId>} \`
    -Mailbox noreply@contoso.com \`
    -Mode RbacForApplications -WhatIf

Remove -WhatIf to apply. See infra/README.md, "Exchange Online onboarding".
TEXT
