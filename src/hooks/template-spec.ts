// What a template says besides its bodies (template.json): where its input comes from, who sends and receives, and
// the Liquid strings for subject, headers and the idempotency key. Bodies are html.liquid and text.liquid beside it.
import { z } from 'zod';
import { addressSchema, emailAddressSchema } from '../mail/mail-request';

/** Bound on each template file, so a template (shipped or in the blob container) cannot exhaust the worker. */
export const MAX_TEMPLATE_FILE_BYTES = 256 * 1024;
export const TEMPLATE_FILES = ['template.json', 'html.liquid', 'text.liquid'] as const;
export type TemplateFile = (typeof TEMPLATE_FILES)[number];

const liquid = (max: number) => z.string().min(1).max(max);
const fixedRecipients = z.array(emailAddressSchema).min(1).max(50);

export const templateSpecSchema = z
  .object({
    description: z.string().max(500).optional(),
    /** `json`: any JSON, as `payload`. `eventgrid`: Event Grid or CloudEvents events, with the validation handshake. */
    input: z.enum(['json', 'eventgrid']).default('json'),
    /** Event Grid batches: one mail per event (`event`) or one digest per delivery (`events`). */
    batch: z.enum(['each', 'digest']).default('each'),
    /** Fixed sender; without it the caller's default sender. Never taken from the payload. */
    from: addressSchema.optional(),
    to: fixedRecipients.optional(),
    cc: fixedRecipients.optional(),
    bcc: fixedRecipients.optional(),
    replyTo: fixedRecipients.optional(),
    /**
     * Recipients read from the request, only where the template says so: Liquid over `payload` (or `event`) and
     * `query` (the URL's parameters, which whoever sets up the webhook chooses), rendering a comma-separated list.
     */
    recipientsFromRequest: z
      .object({ to: liquid(2000), cc: liquid(2000), bcc: liquid(2000) })
      .partial()
      .strict()
      .optional(),
    subject: liquid(2000),
    importance: liquid(500).optional(),
    headers: z.record(z.string(), liquid(2000)).optional(),
    /** Liquid naming what makes two deliveries the same mail (e.g. alert id and condition); hashed into the key. */
    idempotencyKey: liquid(1000).optional(),
    /** CloudEvents abuse protection: the WebHook-Request-Origin values this template accepts subscriptions from. */
    allowedOrigins: z
      .array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/))
      .min(1)
      .max(10)
      .default(['eventgrid.azure.net']),
  })
  .strict()
  .refine((spec) => spec.to || spec.cc || spec.bcc || spec.recipientsFromRequest, {
    message: 'names no recipients: set to, cc, bcc or recipientsFromRequest',
  });

export type TemplateSpec = z.infer<typeof templateSpecSchema>;
