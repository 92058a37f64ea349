// Sender profiles: which tenant, credential, token scope and SMTP endpoint a sending mailbox uses. Service providers
// send for several Microsoft 365 tenants (one app registration per tenant, or one multi-tenant registration consented
// in each), and one deployment may serve a commercial and a sovereign-cloud tenant. Today's MAIL_* settings are the
// "default" profile; MAIL_SENDER_PROFILES adds others, each for the mailboxes or @domains it lists.
import { z } from 'zod';
import { AUTH_MODES } from '../identity/auth-mode';
import type { TokenSourceOptions } from '../identity/token-source';
import type { SmtpOptions } from '../smtp/smtp-sender';
import { isAllowedSender, senderEntrySchema } from '../mail/senders';
import { clientIdSchema, tenantIdSchema } from '../identity/entra-ids';

export const DEFAULT_PROFILE = 'default';

/** A credential lives in an app setting of its own (a Key Vault reference in Azure), never in the profile JSON. */
const settingName = z
  .string()
  .regex(/^MAIL_[A-Z0-9_]{1,100}$/, { message: 'the name of an app setting such as MAIL_FABRIKAM_CLIENT_SECRET' });

export const senderProfileSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: '1-64 letters, digits, dot, dash or underscore' })
      .refine((name) => name !== DEFAULT_PROFILE, { message: `"${DEFAULT_PROFILE}" is the profile of the MAIL_* settings` }),
    senders: z.array(senderEntrySchema.transform((s) => s.toLowerCase())).min(1),
    authMode: z.enum(AUTH_MODES),
    tenantId: tenantIdSchema().optional(),
    clientId: clientIdSchema().optional(),
    clientSecretSetting: settingName.optional(),
    clientCertificateSetting: settingName.optional(),
    managedIdentityClientId: clientIdSchema().optional(),
    federationAudience: z.string().min(1).max(200).optional(),
    authorityHost: z
      .url({ protocol: /^https$/, message: 'an https URL' })
      .transform((url) => url.replace(/\/+$/, ''))
      .optional(),
    scope: z.string().min(1).max(500).optional(),
    smtpHost: z.string().min(1).max(255).optional(),
    smtpPort: z.int().min(1).max(65535).optional(),
    maxConnectionsPerMailbox: z.int().min(1).max(20).optional(),
    maxMessagesPerMinute: z.int().min(1).max(10_000).optional(),
    maxRecipientsPerDay: z.int().min(1).max(1_000_000).optional(),
  })
  .strict();

export type SenderProfileSetting = z.infer<typeof senderProfileSchema>;

export const senderProfileListSchema = z
  .array(senderProfileSchema)
  .max(200)
  .refine((list) => new Set(list.map((p) => p.name.toLowerCase())).size === list.length, { message: 'profile names must be unique' });

/** A profile ready to use: the options its token source and SMTP sender take. */
export interface SenderProfile {
  name: string;
  /** Mailboxes and @domains it serves; empty for the default profile, which serves every other allowed sender. */
  senders: string[];
  auth: TokenSourceOptions;
  smtp: SmtpOptions;
  maxMessagesPerMinute: number;
  maxRecipientsPerDay: number;
}

/** The profile of a sender: an exact mailbox first, then its @domain, else the default profile. */
export function profileFor<P extends Pick<SenderProfile, 'senders'>>(sender: string, profiles: readonly P[], fallback: P): P {
  const mailbox = sender.toLowerCase();
  return profiles.find((p) => p.senders.includes(mailbox)) ?? profiles.find((p) => isAllowedSender(mailbox, p.senders)) ?? fallback;
}
