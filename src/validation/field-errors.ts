// How input that fails its schema is answered, wherever it comes from (a request, a queue message, a payload blob,
// a setting): one error per bad field, each naming the field by its path.
import type { z } from 'zod';

export interface FieldError {
  field: string;
  detail: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

/** Input schemas are parsed with this: a member left out is "required", not the library's "expected string, received undefined". */
export const requiredMembers: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;

/** What a schema's own errors cannot say: the members an object at a path may have, and what a union accepts. */
export interface FieldHints {
  /** For "did you mean" on an unknown member. */
  members?: (path: readonly PropertyKey[]) => readonly string[];
  /** Said of a value that is of none of a union's types. */
  unionMismatch?: string;
}

/** The known member a misspelt one most likely meant: the same but for case, or at most two edits away. */
export function closestMember(key: string, members: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameButCase = members.find((member) => member.toLowerCase() === lower);
  if (sameButCase) return sameButCase;
  const near = members
    .map((member) => ({ member, distance: editDistance(lower, member.toLowerCase()) }))
    .filter(({ member, distance }) => distance <= Math.min(2, Math.floor(member.length / 3)))
    .sort((a, b) => a.distance - b.distance);
  return near[0]?.member;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit; keys are short, so a full table is fine. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return Infinity;
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** An issue saying the value is not of a branch's type at all (nor of any branch of a union there). */
function notOfType(issue: z.core.$ZodIssue): boolean {
  if (issue.path.length > 0) return false;
  return issue.code === 'invalid_type' || (issue.code === 'invalid_union' && issue.errors.every((errs) => errs.some(notOfType)));
}

/** Field errors of a failed parse; the hints name what the schema's own messages cannot. */
export function toFieldErrors(error: z.ZodError, hints: FieldHints = {}): FieldError[] {
  const { members, unionMismatch = 'of none of the accepted types' } = hints;
  type Issue = z.core.$ZodIssue;
  const errorsOf = (issue: Issue, prefix: readonly PropertyKey[]): FieldError[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const meant = members && closestMember(key, members(path));
        return { field: fieldPath([...path, key]), detail: meant ? `unknown field; did you mean ${meant}?` : 'unknown field' };
      });
    }
    if (issue.code === 'invalid_union') {
      // Name the reasons of the branch the value was meant for (of its type), rather than "invalid input".
      const branch = issue.errors.find((errs) => errs.length > 0 && !errs.some(notOfType));
      if (branch) return branch.flatMap((inner) => errorsOf(inner, path));
      return [{ field: fieldPath(path), detail: unionMismatch }];
    }
    if (issue.code === 'invalid_key') {
      // A record key that fails its own check: say why (e.g. which headers are allowed), not just "invalid key".
      return issue.issues.map((inner) => ({ field: fieldPath(path), detail: inner.message }));
    }
    return [{ field: fieldPath(path) || '(body)', detail: issue.message }];
  };
  return error.issues.flatMap((issue) => errorsOf(issue, []));
}
