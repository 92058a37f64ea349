// Which reported bounces are hard: the address itself is bad, so mailing it again can only bounce again. Named once,
// for the suppression list and its documentation. Everything else (a full mailbox, a policy refusal, a transient
// routing problem) may pass and is not suppressed.
// RFC 3463: X.1.x addressing (bad mailbox, bad domain, moved …), 5.2.1 mailbox disabled, 5.4.1 no answer from host
// (Exchange's "recipient address rejected: access denied" for a domain it hosts with no such user).
export const HARD_BOUNCE_STATUSES: readonly RegExp[] = [/^5\.1\.\d{1,3}$/, /^5\.2\.1$/, /^5\.4\.1$/];

export function isHardBounce(status: string): boolean {
  return HARD_BOUNCE_STATUSES.some((pattern) => pattern.test(status));
}
