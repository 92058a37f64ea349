// Each caller's own callback signing secret. One secret for all would let any caller that verifies its callbacks
// forge signed events to every other caller's receiver, so the operator's master secret (MAIL_CALLBACK_SECRET) is
// never used to sign: each principal's secret is derived from it, HMAC-SHA256(master, label + principal), and the
// operator hands each caller its own (infra/scripts/callback-secret.sh). While the master is rotated the setting holds
// two, and each callback carries a signature with each principal's secret of both (Standard Webhooks allows several).
import { createHmac } from 'node:crypto';

/** Whose secret signs the callbacks of mail written to the queue by a producer (no caller): not a valid caller name. */
export const PRODUCER_PRINCIPAL = 'queue:producer';

/** Changing it changes every caller's secret: it is part of the derivation receivers rely on. */
const LABEL = 'exo-smtp-mailer callback signing secret\n';

/** A principal's secret (whsec_ + base64 of 32 bytes) under one master secret (whsec_…). */
export function callbackSecretFor(master: string, principal: string): string {
  const key = Buffer.from(master.replace(/^whsec_/, ''), 'base64');
  return `whsec_${createHmac('sha256', key).update(LABEL).update(principal).digest('base64')}`;
}

/** The secrets a principal's callbacks are signed with: one per master secret (two while rotating). */
export function callbackSecretsFor(masters: readonly string[], principal: string | undefined): string[] {
  return masters.map((master) => callbackSecretFor(master, principal ?? PRODUCER_PRINCIPAL));
}
