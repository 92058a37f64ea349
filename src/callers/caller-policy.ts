// Who may call the HTTP API, and as whom each caller may send: the MAIL_CALLERS setting, a JSON list.
// A caller is recognised by a key (its SHA-256 in the policy, never the key itself) or by a Microsoft Entra
// access token (its app id, or an app role it holds).
import { z } from 'zod';
import { senderEntrySchema, domainSchema } from '../mail/senders';
import { emailAddressSchema } from '../mail/mail-request';

export const SEND_ROLE = 'Mail.Send';
/** Reads statuses without sending: an auditor, a dashboard (with readAllStatus, every caller's). */
export const STATUS_READ_ROLE = 'MailStatus.Read';

/**
 * The app roles an Entra token needs per operation, any one of them (infra/modules/entra.bicep declares them). A hook
 * sends mail, and confirming an Event Grid subscription to one starts that, so both need Mail.Send. The doctor is not
 * here: it takes the host's master key, never a caller's credential.
 */
export const OPERATION_ROLES = {
  send: [SEND_ROLE],
  readStatus: [SEND_ROLE, STATUS_READ_ROLE],
  hook: [SEND_ROLE],
} as const satisfies Record<string, readonly string[]>;

export type Operation = keyof typeof OPERATION_ROLES;

/** What a sender may do, the same for a caller and for a signed hook (which sends as a caller of its own). */
export const senderPolicyShape = {
  senders: z.array(senderEntrySchema.transform((s) => s.toLowerCase())).min(1),
  defaultSender: emailAddressSchema.transform((s) => s.toLowerCase()).optional(),
  recipientDomains: z
    .array(domainSchema.transform((d) => d.toLowerCase()))
    .min(1)
    .optional(),
  dailyQuota: z.int().min(1).max(10_000_000).optional(),
};

export const callerSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: '1-64 letters, digits, dot, dash or underscore' }),
    keySha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { message: 'the hex SHA-256 of the key' })
      .transform((hex) => hex.toLowerCase())
      .optional(),
    entraAppId: z
      .guid({ message: "the caller's client (application) id" })
      .transform((id) => id.toLowerCase())
      .optional(),
    entraRole: z.string().min(1).max(120).optional(),
    ...senderPolicyShape,
    readAllStatus: z.boolean().optional(),
  })
  .strict()
  .refine((c) => [c.keySha256, c.entraAppId, c.entraRole].filter(Boolean).length === 1, {
    message: 'exactly one of keySha256, entraAppId and entraRole says how the caller is recognised',
  });

export type Caller = z.infer<typeof callerSchema>;

export const callerListSchema = z
  .array(callerSchema)
  .max(500)
  .refine((list) => new Set(list.map((c) => c.name.toLowerCase())).size === list.length, { message: 'caller names must be unique' });
