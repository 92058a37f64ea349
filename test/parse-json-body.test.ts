// The intake's JSON parser takes long strings straight from the bytes; whatever the body, it must answer exactly as
// JSON.parse does: the same value, or a SyntaxError. With a threshold of a few characters, every string in the
// generated bodies is a "long" one, so the cut-out path is what the properties exercise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseJsonBody } from '../src/intake/parse-json-body';

const SHORT = 3;

function outcome(parse: () => unknown): { value: unknown } | { error: string } {
  try {
    return { value: parse() };
  } catch (error) {
    return { error: (error as Error).name };
  }
}

test('any JSON value parses to what JSON.parse gives, however its strings are written', () => {
  // Strings with quotes, backslashes, control characters (escaped by stringify), non-ASCII and astral characters.
  const text = fc.string({
    unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0000', '/', 'é', '😀'), fc.string({ minLength: 1, maxLength: 1 })),
    maxLength: 12,
  });
  const json = fc.jsonValue().chain((value) => fc.constant(value));
  fc.assert(
    fc.property(fc.oneof(json, fc.dictionary(text, fc.oneof(text, json))), fc.boolean(), (value, pretty) => {
      const body = Buffer.from(JSON.stringify(value, null, pretty ? 2 : undefined), 'utf8');
      assert.deepEqual(parseJsonBody(body, SHORT), JSON.parse(body.toString('utf8')));
    }),
    { numRuns: 500 },
  );
});

test('any bytes at all: the same value or the same kind of error as JSON.parse', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    // Near-JSON: valid documents with a byte changed, cut short, or a raw control character in a string.
    fc.tuple(fc.jsonValue(), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([value, at, byte]) => {
      const b = Buffer.from(JSON.stringify(value), 'utf8');
      if (b.length > 0) b[at % b.length] = byte;
      return b;
    }),
    fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value)).subarray(0, -1)),
  );
  fc.assert(
    fc.property(bytes, (body) => {
      assert.deepEqual(
        outcome(() => parseJsonBody(body, SHORT)),
        outcome(() => JSON.parse(body.toString('utf8'))),
      );
    }),
    { numRuns: 2000 },
  );
});

test('a long attachment is taken as it is, and a forged placeholder in the request stays a plain string', () => {
  const content = Buffer.alloc(200 * 1024, 1).toString('base64');
  const forged = '\u0000deadbeef:0';
  const body = Buffer.from(JSON.stringify({ subject: forged, attachments: [{ filename: 'a', content }] }));
  const parsed = parseJsonBody(body) as { subject: string; attachments: Array<{ content: string }> };
  assert.equal(parsed.attachments[0].content, content);
  assert.equal(parsed.subject, forged);
  assert.throws(() => parseJsonBody(Buffer.from(`{"a":"${'x'.repeat(70_000)}\t"}`)), SyntaxError);
});
