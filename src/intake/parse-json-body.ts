// JSON.parse for request bodies that carry large strings (base64 attachments). Parsing the body as one string holds
// it twice (the text, then every value copied out of it); here each long string literal without escapes is cut out of
// the bytes and decoded once, and JSON.parse reads only what is left. The result is what JSON.parse would return.
import { randomBytes } from 'node:crypto';

/** String literals at least this long are taken from the bytes directly. */
export const LONG_STRING = 64 * 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
// eslint-disable-next-line no-control-regex -- a raw control character makes a JSON string invalid
const CONTROL = /[\x00-\x1f]/;

export function parseJsonBody(body: Buffer, longString = LONG_STRING): unknown {
  const long = longStrings(body, longString);
  if (long.length === 0) return JSON.parse(body.toString('utf8'));
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
  return restore(JSON.parse(Buffer.concat(pieces).toString('utf8')), tag, values);
}

/** [opening quote, closing quote] of each long string literal without a backslash in it. */
function longStrings(body: Buffer, longString: number): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  // Every quote found from here on, outside a string, opens one: JSON has quotes nowhere else.
  for (let at = 0; ;) {
    const start = body.indexOf(QUOTE, at);
    if (start < 0) return found;
    let end = body.indexOf(QUOTE, start + 1);
    while (end >= 0 && escapedAt(body, end)) end = body.indexOf(QUOTE, end + 1);
    if (end < 0) return found; // unterminated: JSON.parse will say so
    const long = end - start - 1 >= longString && !body.subarray(start + 1, end).includes(BACKSLASH);
    if (long && !isKey(body, end)) found.push([start, end]);
    at = end + 1;
  }
}

/** A string followed by a colon names a member; values are what is cut out. */
function isKey(body: Buffer, closingQuote: number): boolean {
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

function restore(value: unknown, tag: string, values: string[]): unknown {
  if (typeof value === 'string') return value.startsWith(tag) ? values[Number(value.slice(tag.length))] : value;
  if (Array.isArray(value)) return value.map((item) => restore(item, tag, values));
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value))
      (value as Record<string, unknown>)[key] = restore((value as Record<string, unknown>)[key], tag, values);
  }
  return value;
}
