#!/usr/bin/env bash
# azd postprovision hook (azure.yaml). azd exports the outputs of infra/main.bicep as environment variables.
#   clientSecret       -> new-client-secret.sh      (once; existing secret kept)
#   clientCertificate  -> new-client-certificate.sh (once; existing certificate kept)
#   managedIdentity, federatedIdentity -> nothing to create
# Then prints the Exchange Online onboarding command for EXO_AUTHORIZATION (the exchangeAuthorization parameter),
# after warning about grants an earlier deployment left behind that the current one no longer wants.
set -euo pipefail
here=$(dirname "$0")
. "$here/common.sh"

mode=${EXO_AUTH_MODE:?EXO_AUTH_MODE missing: run this through azd (postprovision hook) or export the main.bicep outputs}
authorization=${EXO_AUTHORIZATION:-rbacForApplications}

case $mode in
  clientSecret) bash "$here/new-client-secret.sh" ;;
  clientCertificate) bash "$here/new-client-certificate.sh" ;;
  managedIdentity|federatedIdentity) note "auth mode $mode: no credential to create" ;;
  *) die "unknown EXO_AUTH_MODE '$mode'" ;;
esac

case $authorization in
  rbacForApplications) exchange_mode=RbacForApplications ;;
  mailboxPermission) exchange_mode=MailboxPermission ;;
  *) die "unknown EXO_AUTHORIZATION '$authorization' (rbacForApplications or mailboxPermission)" ;;
esac

# Leftovers that re-provisioning cannot remove (deployments only add): best effort, never fatal.
if command -v az >/dev/null 2>&1; then
  warn_leftovers "$authorization" || true
fi

# The sending mailboxes: the full addresses of MAIL_ALLOWED_SENDERS (an @domain entry names no mailbox).
mailboxes=$(printf '%s' "${MAIL_ALLOWED_SENDERS:-}" | tr ',' '\n' | sed 's/^ *//; s/ *$//' | grep -E '^[^@]+@[^@]+$' | paste -sd, - || true)

cat >&2 <<TEXT

Next: authorise the sender in Exchange Online (PowerShell 7, module ExchangeOnlineManagement, an Exchange
administrator). Exchange authorization: $authorization. The ServicePrincipalObjectId is the ENTERPRISE
APPLICATION's object id (service principal), not the app registration's object id:

  pwsh ./infra/exchange/Register-ExchangeSender.ps1 \`
    -AppId ${EXO_SENDER_APP_ID:-<appId>} \`
    -ServicePrincipalObjectId ${EXO_SENDER_OBJECT_ID:-<objectId>} \`
    -Mailbox ${mailboxes:-noreply@contoso.com} \`
    -Mode $exchange_mode -WhatIf

Remove -WhatIf to apply. See infra/README.md, "Exchange Online onboarding".
TEXT
