#!/usr/bin/env bash
# azd postprovision hook (azure.yaml). azd exports the outputs of infra/main.bicep as environment variables.
#   clientSecret       -> new-client-secret.sh      (once; existing secret kept)
#   clientCertificate  -> new-client-certificate.sh (once; existing certificate kept)
#   managedIdentity, federatedIdentity -> nothing to create
# Then the same for each sender profile whose credential is on this deployment's app registration (sender-profiles.mjs
# lists them), and the callbacks' signing secret when callbacks are on (new-callback-secret.sh). Then prints the steps per tenant (admin consent, other tenants' credentials) and one Exchange Online
# onboarding command per tenant and app for EXO_AUTHORIZATION (the exchangeAuthorization parameter), after warning
# about grants an earlier deployment left behind that the current one no longer wants.
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

# Sender profile credentials on this app registration: one Key Vault secret or certificate each (kept if it exists).
profile_credentials=$(node "$here/sender-profiles.mjs" credentials) || die "sender-profiles.mjs failed"
while IFS=$'\t' read -r kind name; do
  [ -n "$name" ] || continue
  note "sender profile credential: Key Vault $kind '$name'"
  case $kind in
    secret) bash "$here/new-client-secret.sh" --name "$name" ;;
    certificate) bash "$here/new-client-certificate.sh" --name "$name" ;;
  esac
done <<< "$profile_credentials"

# Callbacks on (MAIL_CALLBACK_HOSTS): their signing secret, referenced by MAIL_CALLBACK_SECRET (kept if it exists).
if [ -n "${EXO_CALLBACK_SIGNING_KEY_NAME:-}" ]; then
  bash "$here/new-callback-secret.sh" --name "$EXO_CALLBACK_SIGNING_KEY_NAME"
fi

case $authorization in
  rbacForApplications|mailboxPermission) ;;
  *) die "unknown EXO_AUTHORIZATION '$authorization' (rbacForApplications or mailboxPermission)" ;;
esac

# Leftovers that re-provisioning cannot remove (deployments only add): best effort, never fatal.
if command -v az >/dev/null 2>&1; then
  warn_leftovers "$authorization" || true
fi

# Consent and credentials in other tenants, then one Exchange command per tenant and app (the default profile's
# mailboxes are those of MAIL_ALLOWED_SENDERS no sender profile serves).
node "$here/sender-profiles.mjs" next
