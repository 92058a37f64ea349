#!/usr/bin/env bash
# Prints one caller's callback signing secret, to hand to that caller (its receiver verifies callbacks with it): derived
# from the master secret in Key Vault as the app derives it, whsec_ + base64(HMAC-SHA256(master bytes,
# "exo-smtp-mailer callback signing secret\n" + caller)). While a rotation is under way it prints two lines, the
# current secret and the next; a receiver accepts either until the rotation is finished.
#
# The caller is its name in MAIL_CALLERS; under an entraRole entry each application is "<name>:<client id>"; without
# MAIL_CALLERS "function-key"; a signed hook "hook.<template>"; mail written to the queue by a producer "queue:producer".
#
# The master goes from `az keyvault secret show` to node through a pipe, never into a shell variable or an argument.
#
# Usage: infra/scripts/callback-secret.sh --caller NAME [--vault NAME] [--name SECRET]
# Defaults come from the azd environment (AZURE_KEY_VAULT_NAME, EXO_CALLBACK_SIGNING_KEY_NAME).
set -euo pipefail
. "$(dirname "$0")/common.sh"

vault=${AZURE_KEY_VAULT_NAME:-}
name=${EXO_CALLBACK_SIGNING_KEY_NAME:-mail-callback-secret}
caller=

while [ $# -gt 0 ]; do
  case $1 in
    --caller) caller=$2; shift 2 ;;
    --vault) vault=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ -n "$caller" ] || die "no caller: pass --caller <name> (see --help for the names)"
[ -n "$vault" ] || die "no Key Vault: pass --vault or set AZURE_KEY_VAULT_NAME"

require_az
open_vault_to_this_machine "$vault"

az keyvault secret show --vault-name "$vault" --name "$name" --query value -o tsv --only-show-errors \
  | node -e "
      const { createHmac } = require('node:crypto');
      const masters = require('node:fs').readFileSync(0, 'utf8').trim().split(' ').filter(Boolean);
      if (masters.length === 0) { process.stderr.write('the master secret is empty\\n'); process.exit(1); }
      for (const master of masters) {
        const key = Buffer.from(master.replace(/^whsec_/, ''), 'base64');
        const secret = createHmac('sha256', key).update('exo-smtp-mailer callback signing secret\\n').update(process.argv[1]).digest('base64');
        process.stdout.write('whsec_' + secret + '\\n');
      }
    " "$caller" \
  || die "reading the master secret failed"
