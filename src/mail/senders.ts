// Which mailboxes the app may send as: exact mailboxes or whole "@domain" entries, compared without case.

export function isAllowedSender(address: string, allowed: readonly string[]): boolean {
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf('@'));
  return allowed.includes(lower) || allowed.includes(domain);
}
