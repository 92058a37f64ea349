// Parsed JSON is checked for its shape before any schema reads it: no key that reaches an object's prototype
// machinery, no nesting deeper than any input needs.
import { fieldPath, type FieldError } from './field-errors';

// Keys that reach an object's prototype machinery when some consumer merges or indexes by them.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper than any request needs; a bound keeps a hostile body from costing time in proportion to its nesting. */
export const MAX_JSON_DEPTH = 32;

interface Visit {
  value: unknown;
  key?: PropertyKey;
  parent?: Visit;
  depth: number;
}

const pathOf = (visit: Visit): PropertyKey[] => {
  const path: PropertyKey[] = [];
  for (let at: Visit | undefined = visit; at?.key !== undefined; at = at.parent) path.unshift(at.key);
  return path;
};

/**
 * Every path in parsed JSON that uses a forbidden key, or nests deeper than MAX_JSON_DEPTH. Walks iteratively with
 * parent links, so the cost is linear in the size of the input and paths are built only for what is reported.
 */
export function structureProblems(input: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const pending: Visit[] = [{ value: input, depth: 0 }];
  while (pending.length > 0) {
    const visit = pending.pop()!;
    const { value, depth } = visit;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      // Named by the top-level field it sits in: the caller wrote that field wrong, whatever lies below.
      const [top] = pathOf(visit);
      errors.push({ field: typeof top === 'string' ? top : '(body)', detail: `nested deeper than ${MAX_JSON_DEPTH} levels` });
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push({ value: item, key: index, parent: visit, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) errors.push({ field: fieldPath([...pathOf(visit), key]), detail: 'reserved key name' });
      else pending.push({ value: (value as Record<string, unknown>)[key], key, parent: visit, depth: depth + 1 });
    }
  }
  return errors;
}
