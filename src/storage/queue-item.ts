// A queue message as the Functions host hands it over: parsed JSON when it is JSON, a string (or bytes) otherwise.
// Queue messages are input like any other: reserved keys and nesting are checked first, then the message's schema,
// and every error names its field.
import type { z } from 'zod';
import { requiredMembers, toFieldErrors, type FieldHints, type Validation } from '../validation/field-errors';
import { structureProblems } from '../validation/json-structure';

export function decodeQueueItem<T>(item: unknown, schema: z.ZodType<T>, notJson: string, hints?: FieldHints): Validation<T> {
  let value = item;
  if (Buffer.isBuffer(value)) value = value.toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return { ok: false, errors: [{ field: '(message)', detail: notJson }] };
    }
  }
  const reserved = structureProblems(value);
  if (reserved.length > 0) return { ok: false, errors: reserved };
  const result = schema.safeParse(value, { error: requiredMembers });
  return result.success ? { ok: true, value: result.data } : { ok: false, errors: toFieldErrors(result.error, hints) };
}
