// Which hooks are signed instead of called by an authenticated caller (MAIL_HOOKS), with the sender policy each
// signed hook sends under, and their secrets (MAIL_HOOK_SECRETS, a secret setting: a Key Vault reference in Azure).
import { z } from 'zod';
import { senderPolicyShape, type Caller } from '../callers/caller-policy';
import { TEMPLATE_NAME } from './template-name';

export const SIGNATURE_SCHEMES = ['standard-webhooks', 'github'] as const;
export type SignatureScheme = (typeof SIGNATURE_SCHEMES)[number];

export const signedHookSchema = z
  .object({
    template: z.string().regex(TEMPLATE_NAME, { message: 'a template name: lowercase letters, digits and single hyphens' }),
    signature: z.enum(SIGNATURE_SCHEMES, { error: () => `must be one of ${SIGNATURE_SCHEMES.join(', ')}` }),
    ...senderPolicyShape,
  })
  .strict();

export type SignedHook = z.infer<typeof signedHookSchema>;

export const signedHookListSchema = z
  .array(signedHookSchema)
  .max(200)
  .refine((list) => new Set(list.map((h) => h.template)).size === list.length, { message: 'each template is signed at most once' });

/** Secrets by template name; a list while a secret is rotated (any of them verifies). Values are never echoed. */
export const hookSecretsSchema = z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1).max(4)]));

/** The caller a signed hook acts as: its name in logs and status records, and its own sender policy. */
export function hookCaller(hook: SignedHook): Caller {
  return {
    name: hookCallerName(hook.template),
    senders: hook.senders,
    ...(hook.defaultSender ? { defaultSender: hook.defaultSender } : {}),
    ...(hook.recipientDomains ? { recipientDomains: hook.recipientDomains } : {}),
    ...(hook.dailyQuota ? { dailyQuota: hook.dailyQuota } : {}),
  };
}

export const hookCallerName = (template: string) => `hook.${template}`;

/** Problems with a secret, naming the hook, never the value. */
export function secretProblems(scheme: SignatureScheme, secrets: readonly string[]): string[] {
  return secrets.flatMap((secret, index) => {
    const which = secrets.length > 1 ? ` (secret ${index + 1})` : '';
    if (scheme === 'standard-webhooks') {
      const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
      if (!match) return [`not a Standard Webhooks secret (whsec_ followed by base64)${which}`];
      if (Buffer.from(match[1], 'base64').length < 16) return [`too short: at least 16 bytes after whsec_${which}`];
      return [];
    }
    return secret.length < 16 ? [`too short: at least 16 characters${which}`] : [];
  });
}

/** POST /api/hooks/{template}: where templates come from, payload bound, and the hooks verified by signature. */
export interface HookConfig {
  templateContainer?: string;
  cacheSeconds: number;
  maxPayloadBytes: number;
  signed: SignedHook[];
  /** Secrets by template name; never logged. */
  secrets: ReadonlyMap<string, readonly string[]>;
}
