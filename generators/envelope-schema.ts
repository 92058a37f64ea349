// The outbox envelope's JSON Schema for producers in other languages (schemas/outbox-envelope.schema.json, written
// by `npm run schemas`), from the zod schema the worker validates with.
import { z } from 'zod';
import { envelopeSchema } from '../src/mail/envelope';

export function envelopeJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(envelopeSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
}
