// Which mailboxes the app may send as: exact mailboxes or whole "@domain" entries, compared without case.
import { z } from 'zod';
import { emailAddressSchema } from './mail-request';

export function isAllowedSender(address: string, allowed: readonly string[]): boolean {
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf('@'));
  return allowed.includes(lower) || allowed.includes(domain);
}

/** An entry of a sender list: a mailbox, or "@domain" for every mailbox of a domain. */
export const senderEntrySchema = z.union([
  emailAddressSchema,
  z.string().regex(/^@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$/, { message: 'a mailbox or an @domain' }),
]);

/** A domain name such as contoso.com (recipient domain lists). */
export const domainSchema = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$/, {
  message: 'a domain such as contoso.com',
});
