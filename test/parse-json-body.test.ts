// The intake's JSON parser takes long strings straight from the bytes and refuses a member name given twice; apart from
// that, whatever the body, it must answer exactly as JSON.parse does: the same value, or a SyntaxError. With a
// threshold of a few characters, every string in the generated bodies is a "long" one, so the cut-out path is what
// the properties exercise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DuplicateKeyError, parseJsonBody } from '../src/intake/parse-json-body';

const SHORT = 3;

function outcome(parse: () => unknown): { value: unknown } | { error: string; duplicate?: string } {
  // duplicate: the member name given twice, when that is the error.
  try {
    return { value: parse() };
  } catch (error) {
    return { error: (error as Error).name, ...(error instanceof DuplicateKeyError ? { duplicate: error.member } : {}) };
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
      const ours = outcome(() => parseJsonBody(body, SHORT));
      const theirs = outcome(() => JSON.parse(body.toString('utf8')));
      // The one difference allowed: a document JSON.parse takes, refused for a name that is really in it twice.
      if ('duplicate' in ours && ours.duplicate !== undefined && 'value' in theirs) {
        // Independently of the scanner: every string literal followed by a colon, decoded, counted.
        const names = [...body.toString('utf8').matchAll(/("(?:[^"\\]|\\.)*")\s*:/g)].map((m) => {
          try {
            return JSON.parse(m[1]) as string;
          } catch {
            return undefined;
          }
        });
        assert.ok(names.filter((n) => n === ours.duplicate).length >= 2, `${ours.duplicate} is not given twice`);
        return;
      }
      assert.deepEqual({ ...ours, duplicate: undefined }, { ...theirs, duplicate: undefined });
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

test('a member name given twice in one object is refused, named by its path, however it is spelled', () => {
  const cases: Array<[string, string]> = [
    ['{"to":"a@example.com","to":"b@example.com"}', 'to'],
    ['{"to":"a@example.com", "t\\u006f" :"b@example.com"}', 'to'],
    ['{"attachments":[{"filename":"a"},{"filename":"b","filename":"c"}]}', 'attachments[1].filename'],
    ['{"headers":{"X-A":"1"},"x":[[1,{"k":1,"k":2}]]}', 'x[0][1].k'],
  ];
  for (const [text, field] of cases) {
    assert.throws(
      () => parseJsonBody(Buffer.from(text)),
      (error: unknown) => error instanceof DuplicateKeyError && error.field === field,
      text,
    );
  }
  // The same name in different objects, or as a value, is fine.
  assert.deepEqual(parseJsonBody(Buffer.from('{"a":{"to":1},"b":{"to":2},"c":["to","to"]}')), {
    a: { to: 1 },
    b: { to: 2 },
    c: ['to', 'to'],
  });
});

test('a body nested far deeper than any request, with a long string in it, parses without exhausting the stack', () => {
  const depth = 100_000;
  const text = `${'['.repeat(depth)}"${'A'.repeat(70_000)}"${']'.repeat(depth)}`;
  let value = parseJsonBody(Buffer.from(text));
  for (let i = 0; i < depth; i++) value = (value as unknown[])[0];
  assert.equal(value, 'A'.repeat(70_000));
});
