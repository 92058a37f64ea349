// JSON.parse for request bodies, with two differences that matter at a trust boundary and for large mails:
// - A member name given twice in one object is an error. JSON.parse keeps the last, other readers (a gateway, a
//   logging proxy) the first: the request must not mean one thing to them and another to us.
// - Long string literals without escapes (base64 attachments) are cut out of the bytes and decoded once, and
//   JSON.parse reads only what is left. Parsing the body as one string would hold it twice (the text, then every
//   value copied out of it).
// Otherwise the result, or the SyntaxError, is what JSON.parse gives.
import { randomBytes } from 'node:crypto';
import { fieldPath, type FieldError } from '../validation/field-errors';

/** A body that is not JSON, as every entry point answers it. */
export interface InvalidJson {
  status: 400;
  title: 'Invalid JSON';
  detail: string;
  errors: FieldError[];
}

export type JsonBody = { ok: true; json: unknown } | { ok: false; invalid: InvalidJson } | { ok: false; duplicate: FieldError };

/** A request body read as JSON (parseJsonBody), or what is wrong with it: not JSON, or a member name given twice. */
export function readJsonBody(body: Buffer): JsonBody {
  try {
    return { ok: true, json: parseJsonBody(body) };
  } catch (error) {
    if (error instanceof DuplicateKeyError) {
      return {
        ok: false,
        duplicate: { field: error.field, detail: 'given twice in one object: readers disagree on which one counts, so neither is taken' },
      };
    }
    const detail = `The body is not valid JSON: ${(error as Error).message}`;
    return { ok: false, invalid: { status: 400, title: 'Invalid JSON', detail, errors: [{ field: '(body)', detail: 'not valid JSON' }] } };
  }
}

/** String literals at least this long are taken from the bytes directly. */
export const LONG_STRING = 64 * 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
// eslint-disable-next-line no-control-regex -- a raw control character makes a JSON string invalid
const CONTROL = /[\x00-\x1f]/;

/** A member name given twice in one object; `field` is its path, as validation errors name fields. */
export class DuplicateKeyError extends SyntaxError {
  constructor(
    readonly field: string,
    readonly member: string,
  ) {
    super(`${field} is given twice in one object`);
  }
}

export function parseJsonBody(body: Buffer, longString = LONG_STRING): unknown {
  const { long, duplicate } = scan(body, longString);
  // Broken JSON is reported as that, whatever else is wrong with it.
  const checked = <T>(value: T): T => {
    if (duplicate) throw duplicate;
    return value;
  };
  if (long.length === 0) return checked(JSON.parse(body.toString('utf8')));
  // Each long literal becomes a short one that no request can contain: NUL (escaped) and a fresh nonce.
  const tag = `\u0000${randomBytes(12).toString('hex')}:`;
  const pieces: Buffer[] = [];
  let at = 0;
  long.forEach(([start, end], i) => {
    pieces.push(body.subarray(at, start), Buffer.from(JSON.stringify(`${tag}${i}`)));
    at = end + 1;
  });
  pieces.push(body.subarray(at));
  const values = long.map(([start, end]) => body.toString('utf8', start + 1, end));
  // JSON forbids raw control characters in strings; JSON.parse would have said so.
  if (values.some((value) => CONTROL.test(value))) throw new SyntaxError('Bad control character in string literal in JSON');
  return checked(restore(JSON.parse(Buffer.concat(pieces).toString('utf8')), tag, values));
}

/** An object or array the scan is inside: the names it has seen, or the index of its current item. */
type Frame = { kind: 'object'; names: Set<string>; name?: string; at?: PropertyKey } | { kind: 'array'; index: number; at?: PropertyKey };

/**
 * One pass over the bytes: [opening quote, closing quote] of each long string value without a backslash in it, and
 * the first member name repeated within its object. Malformed input is left for JSON.parse to name.
 */
function scan(body: Buffer, longString: number): { long: Array<[number, number]>; duplicate?: DuplicateKeyError } {
  const long: Array<[number, number]> = [];
  let duplicate: DuplicateKeyError | undefined;
  const frames: Frame[] = [];
  // Every quote found from here on, outside a string, opens one: JSON has quotes nowhere else.
  for (let at = 0; ;) {
    const start = body.indexOf(QUOTE, at);
    structure(body, at, start < 0 ? body.length : start, frames);
    if (start < 0) return { long, duplicate };
    let end = body.indexOf(QUOTE, start + 1);
    while (end >= 0 && escapedAt(body, end)) end = body.indexOf(QUOTE, end + 1);
    if (end < 0) return { long, duplicate };
    const escapes = body.subarray(start + 1, end).includes(BACKSLASH);
    const top = frames.at(-1);
    if (isName(body, end)) {
      if (top?.kind === 'object') {
        // A name with an escape that is not valid JSON throws the SyntaxError JSON.parse would.
        const name = escapes ? (JSON.parse(body.toString('utf8', start, end + 1)) as string) : body.toString('utf8', start + 1, end);
        if (top.names.has(name))
          duplicate ??= new DuplicateKeyError(fieldPath([...frames.map((f) => f.at).slice(1), name] as PropertyKey[]), name);
        top.names.add(name);
        top.name = name;
      }
    } else if (end - start - 1 >= longString && !escapes) {
      long.push([start, end]);
    }
    at = end + 1;
  }
}

/** Opens and closes objects and arrays between strings, and counts array items by their commas. */
function structure(body: Buffer, from: number, to: number, frames: Frame[]): void {
  for (let i = from; i < to; i++) {
    const byte = body[i];
    if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      const parent = frames.at(-1);
      const at = parent?.kind === 'object' ? parent.name : parent?.kind === 'array' ? parent.index : undefined;
      frames.push(byte === OPEN_OBJECT ? { kind: 'object', names: new Set(), at } : { kind: 'array', index: 0, at });
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      frames.pop();
    } else if (byte === COMMA) {
      const top = frames.at(-1);
      if (top?.kind === 'array') top.index++;
    }
  }
}

/** A string followed by a colon names a member. */
function isName(body: Buffer, closingQuote: number): boolean {
  let at = closingQuote + 1;
  while (WHITESPACE.has(body[at])) at++;
  return body[at] === COLON;
}

/** A quote preceded by an odd run of backslashes is part of the string. */
function escapedAt(body: Buffer, quote: number): boolean {
  let slashes = 0;
  while (body[quote - 1 - slashes] === BACKSLASH) slashes++;
  return slashes % 2 === 1;
}

/** Puts the long strings back in place of their stand-ins; iterative, as deep as the input nests. */
function restore(root: unknown, tag: string, values: string[]): unknown {
  const put = (value: unknown) => (typeof value === 'string' && value.startsWith(tag) ? values[Number(value.slice(tag.length))] : value);
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const container = pending.pop();
    if (typeof container !== 'object' || container === null) continue;
    const members = container as Record<string, unknown>;
    for (const key of Object.keys(members)) {
      const value = put(members[key]);
      // Defined, not assigned: a member named __proto__ stays a member (as JSON.parse made it), never a prototype.
      if (value !== members[key]) Object.defineProperty(members, key, { value, writable: true, enumerable: true, configurable: true });
      pending.push(value);
    }
  }
  return put(root);
}
