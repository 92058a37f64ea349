// Properties of the MIME message as composed, for any mail the validator accepts: generated requests (addresses with
// awkward display names, unicode and long unbroken subjects, custom headers, attachments with odd filenames and
// types, inline images, and now and then a hostile value the validator should refuse), kept when parseMailRequest
// accepts them, composed with composeMessage + nodemailer's MailComposer and read back with mailparser:
//  - no line over 998 octets, and every line ends in CRLF;
//  - the SMTP envelope names exactly the to, cc and bcc addresses, and the sender;
//  - no header the request did not ask for beyond the ones the product writes, and none twice;
//  - From, To, Cc and Reply-To read back as the request's addresses and names, Subject as its subject, Bcc not at all;
//  - every attachment is found with its filename, type, bytes and content id, and nothing else is.
// MIME_PROPERTY_RUNS and MIME_PROPERTY_SEED override the number of runs and the seed (a failure prints its seed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import MailComposer from 'nodemailer/lib/mail-composer';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { composeMessage } from '../src/mail/compose';
import { MAX_HEADER_VALUE, listOf, parseMailRequest, type Address, type MailRequest } from '../src/mail/mail-request';
import { recipientsOf, senderOf } from '../src/mail/addresses';

/** RFC 5322's limit on a line, without its CRLF. Long values are generated around it, not around MAX_HEADER_VALUE. */
const RFC_LINE = 998;
const NUM_RUNS = Number(process.env.MIME_PROPERTY_RUNS ?? 200);
const SEED = process.env.MIME_PROPERTY_SEED === undefined ? undefined : Number(process.env.MIME_PROPERTY_SEED);
const SENDER = 'noreply@contoso.example';

// ---------------------------------------------------------------- arbitraries

const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);
const join = (chars: fc.Arbitrary<string>, maxLength: number, minLength = 0) =>
  fc.array(chars, { minLength, maxLength }).map((a) => a.join(''));

/** Characters that matter to header syntax and encoding: specials, quotes, encoded-word markers, unicode of every width. */
const AWKWARD = [
  ...' ,;:"\\<>()[]@=?_.\'!#$%&*+/^`{|}~-',
  '=?',
  '?=',
  '=?utf-8?q?x?=',
  'é',
  'ü',
  'ß',
  'Ω',
  'ж',
  '中',
  '文',
  '😀',
  '👩‍💻',
  '\u0301',
  '\u200b',
  '\u202e',
  '\u00a0',
  '\u2028',
  '\u0085',
  '\t',
];
const textChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: pick(AWKWARD) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
);

/**
 * Header text: short awkward strings, words, and long unbroken tokens of ASCII or multi-byte characters up to the
 * limit and, now and then, around RFC 5322's 998 (the validator refuses those over MAX_HEADER_VALUE).
 */
const headerText = (maxLength: number) =>
  fc.oneof(
    { weight: 5, arbitrary: join(textChar, 40) },
    { weight: 2, arbitrary: join(fc.oneof(fc.stringMatching(/^[A-Za-z0-9]{1,12}$/), pick([' ', '  ', ', ', ' "q" '])), 120) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: Math.min(maxLength, RFC_LINE) })
        .chain((n) => fc.string({ unit: 'grapheme-ascii', minLength: n, maxLength: n })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.integer({ min: Math.max(1, Math.min(maxLength, RFC_LINE) - 12), max: (maxLength >= RFC_LINE - 1 ? RFC_LINE : maxLength) + 2 }),
          pick(['x', 'é', '中', '😀', '=', '?']),
        )
        .map(([n, c]) => c.repeat(n)),
    },
  );

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
const domain = fc
  .tuple(
    fc.array(label, { minLength: 1, maxLength: 3 }),
    fc.oneof(fc.stringMatching(/^[a-z]{2,6}$/), pick(['xn--p1ai', 'xn--fiqs8s'])),
    fc.boolean(),
  )
  .map(([labels, tld, upper]) => {
    // Domains in any case; the xn-- prefix in lower case, as the validator takes it.
    return `${upper ? labels.join('.').toUpperCase() : labels.join('.')}.${upper && !tld.startsWith('xn--') ? tld.toUpperCase() : tld}`;
  });
const localPart = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.stringMatching(/^[A-Za-z0-9_+-](?:[A-Za-z0-9_'+.-]{0,18}[A-Za-z0-9_+-])?$/).map((l) => l.replace(/\.{2,}/g, '.')),
  },
  { weight: 1, arbitrary: fc.constant('l'.repeat(64)) },
);
const emailAddress = fc.tuple(localPart, domain).map(([l, d]) => `${l}@${d}`);
const displayName = fc.oneof(
  { weight: 4, arbitrary: headerText(256) },
  {
    weight: 1,
    arbitrary: pick([
      'a@example.com, b@example.com',
      'Undisclosed: ;',
      '"Quoted" <x@evil.example>',
      'Doe, John',
      '\\',
      '<>',
      ';',
      // Shaped like encoded words, decoding to addresses and a line break.
      '=?utf-8?b?Ym9i?=',
      '=?utf-8?q?x=40evil.example=2C_y=40evil.example?=',
      '=?utf-8?q?a=0D=0ABcc:_z=40evil.example?=',
    ]),
  },
);
const address: fc.Arbitrary<Address> = fc.oneof(
  emailAddress,
  fc.record({ name: displayName, address: emailAddress }, { requiredKeys: ['address'] }),
);
const addressList = (max: number) => fc.oneof(address, fc.array(address, { minLength: 1, maxLength: max }));

const ALLOWED_NAMES = ['In-Reply-To', 'References', 'List-Unsubscribe', 'List-Unsubscribe-Post', 'Auto-Submitted', 'Keywords', 'Comments'];
const headerName = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/).map((s) => `X-${s}`) },
  { weight: 1, arbitrary: pick(ALLOWED_NAMES) },
);
const headers = fc.dictionary(headerName, headerText(MAX_HEADER_VALUE), { maxKeys: 6 });

const CONTENT_TYPES = [
  'application/pdf',
  'application/octet-stream',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/zip',
  'application/json',
  'application/x-sh',
  'image/png',
  'image/jpeg',
  'image/svg+xml',
  'image/gif',
  'text/plain',
  'text/csv',
  'text/html',
  'text/calendar',
  'text/x-c++src',
  'TEXT/PLAIN',
  'audio/ogg',
  'video/mp4',
  'font/woff2',
  'model/gltf+json',
  'application/pkcs7-signature',
];
const filename = fc.oneof(
  { weight: 4, arbitrary: headerText(255).map((name) => name || 'unnamed') },
  { weight: 3, arbitrary: fc.tuple(join(textChar, 30, 1), pick(['.pdf', '.txt', '.tar.gz', '', '.', '.PNG'])).map(([a, b]) => a + b) },
  {
    weight: 1,
    arbitrary: pick([
      'a"b;c=d.pdf',
      '../../etc/passwd',
      'C:\\temp\\x.exe',
      'name with spaces.txt',
      '=?utf-8?q?trick?=.pdf',
      'ünïcödé 文件.pdf',
      '%41.txt',
      "it's.txt",
      'a*0*=x.pdf',
    ]),
  },
);
const attachment = fc.record(
  {
    filename,
    contentType: pick(CONTENT_TYPES),
    content: fc.uint8Array({ maxLength: 1500 }).map((bytes) => Buffer.from(bytes).toString('base64')),
    contentId: fc.stringMatching(/^[A-Za-z0-9._@$-]{1,40}$/),
  },
  { requiredKeys: ['filename', 'content'] },
);

/**
 * At most one value the validator must refuse, put somewhere in an otherwise ordinary request: a line break with a
 * header after it, a control character, a reserved header, a structural attachment type. With the validator intact
 * such requests are dropped; with it weakened they reach the composer and the properties must catch them.
 */
const BREAKS = [
  '\r\nBcc: injected@evil.example',
  '\nX-Injected: 1',
  '\r',
  '\r\n\r\n<html>body</html>',
  '\u0000',
  '\u001b',
  '\u007f',
  '\u000b',
];
type Hostile = { target: string; value: string };
const hostile: fc.Arbitrary<Hostile | null> = fc.oneof(
  { weight: 7, arbitrary: fc.constant(null) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.record({ target: pick(['subject', 'name', 'header', 'filename', 'contentId', 'contentType', 'address']), value: pick(BREAKS) }),
      fc.record({
        target: fc.constant('headerName'),
        value: pick(['Bcc', 'To', 'Content-Type', 'X-Priority', 'Received', 'X A', 'X-A\r\nBcc', 'X-Ä']),
      }),
      fc.record({ target: fc.constant('contentType'), value: pick(['multipart/mixed', 'message/rfc822', 'text/plain; charset=utf-8']) }),
      fc.record({ target: fc.constant('address'), value: pick(['"a b"', 'a b', 'üser', 'a,b', '<a>']) }),
      fc.record({ target: fc.constant('contentId'), value: pick(['<x>', '>', ' y']) }),
    ),
  },
);

function withHostile(mail: Record<string, unknown>, h: Hostile | null): Record<string, unknown> {
  if (!h) return mail;
  const to = listOf(mail.to as Address | Address[] | undefined);
  const attachments = (mail.attachments as unknown[] | undefined) ?? [];
  switch (h.target) {
    case 'subject':
      return { ...mail, subject: `${String(mail.subject)}${h.value}` };
    case 'name':
      return { ...mail, to: [...to, { name: `Name${h.value}`, address: 'named@example.com' }] };
    case 'header':
      return { ...mail, headers: { ...(mail.headers as object), 'X-Hostile': `a${h.value}` } };
    case 'headerName':
      return { ...mail, headers: { ...(mail.headers as object), [h.value]: 'value' } };
    case 'filename':
      return { ...mail, attachments: [...attachments, { filename: `f${h.value}.txt`, content: 'aGk=' }] };
    case 'contentId':
      return {
        ...mail,
        attachments: [...attachments, { filename: 'i.png', contentType: 'image/png', content: 'aGk=', contentId: `c${h.value}` }],
      };
    case 'contentType':
      return {
        ...mail,
        attachments: [
          ...attachments,
          // A structural or parameterised type as it is; a line break or control character after text/plain.
          { filename: 'm.bin', contentType: /^[a-z]+\/[a-z]/i.test(h.value) ? h.value : `text/plain${h.value}`, content: 'aGk=' },
        ],
      };
    case 'address':
      return { ...mail, to: [...to, `x${h.value}@example.com`] };
    default:
      throw new Error(`no target ${h.target}`);
  }
}

const mailRequest = fc
  .tuple(
    fc.record(
      {
        from: fc.oneof(fc.constant(SENDER), fc.record({ name: displayName, address: fc.constant(SENDER) })),
        to: addressList(4),
        cc: addressList(3),
        bcc: addressList(3),
        replyTo: addressList(3),
        subject: headerText(MAX_HEADER_VALUE),
        text: join(textChar, 200),
        html: join(textChar, 100).map((s) => `<p>${s}</p><img src="cid:logo">`),
        attachments: fc.array(attachment, { maxLength: 4 }),
        headers,
        importance: pick(['low', 'normal', 'high'] as const),
      },
      { requiredKeys: ['subject', 'to'] },
    ),
    hostile,
  )
  .map(([mail, h]) => withHostile(mail, h));

// ---------------------------------------------------------------- what the product writes

/**
 * The headers each of composeMessage's options writes, derived from the options it sets. An option missing here
 * fails the test, so a new option has to say which headers it may add.
 */
const HEADERS_OF_OPTION: Record<string, readonly string[]> = {
  envelope: [],
  from: ['from'],
  to: ['to'],
  cc: ['cc'],
  bcc: [], // MailComposer leaves Bcc out of the message
  replyTo: ['reply-to'],
  subject: ['subject'],
  text: [],
  html: [],
  messageId: ['message-id'],
  date: ['date'],
  priority: ['x-priority', 'x-msmail-priority', 'importance'],
  headers: [], // the request's own names, added below
  // With no body, a single attachment is the message itself: its part headers are the message's.
  attachments: ['content-disposition', 'content-id'],
};
/** Every MIME message has these. */
const STRUCTURE = ['mime-version', 'content-type', 'content-transfer-encoding'];

function allowedHeaders(options: Record<string, unknown>, mail: MailRequest): Set<string> {
  const allowed = new Set(STRUCTURE);
  for (const [option, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const names = HEADERS_OF_OPTION[option];
    assert.ok(names, `composeMessage sets the option "${option}": say which headers it writes`);
    for (const name of names) allowed.add(name);
  }
  for (const name of Object.keys(mail.headers ?? {})) allowed.add(name.toLowerCase());
  return allowed;
}

// ---------------------------------------------------------------- checks

/**
 * Text that holds something shaped like an RFC 2047 encoded word ("=?utf-8?b?Ym9i?=") goes out as written, and a
 * receiver decodes it ("bob"): only its display differs, so such text is compared for everything but its wording.
 */
const looksEncoded = (text: string) => /=\?[^?\s]*\?[BbQq]\?[^?\s]*\?=/.test(text);
/** Blanks at the ends are not part of a header's value (String.prototype.trim would take unicode spaces too). */
const trimBlanks = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, '');
/**
 * Runs of blanks as one: a long value is folded or split into parts, and mailparser reads the blanks at a seam as one
 * space (nodemailer keeps them all on the wire).
 */
const blanks = (text: string) => text.replace(/[ \t]+/g, ' ');
const sameText = (actual: string | undefined, expected: string) =>
  looksEncoded(expected) || blanks(trimBlanks(actual ?? '')) === blanks(trimBlanks(expected));

/**
 * An unstructured header's value as a receiver reads it: unfolded, RFC 2047 encoded words decoded (bytes of adjacent
 * words joined before decoding, the space between them dropped). mailparser leaves X- headers encoded.
 */
function unstructured(line: string): string {
  const value = trimBlanks(line.replace(/\r\n(?=[ \t])/g, '').replace(/^[^:]*:[ \t]*/, ''));
  const word = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/y;
  const wordAt = (at: number) => {
    word.lastIndex = at;
    return word.exec(value);
  };
  let text = '';
  let bytes: Buffer[] = [];
  for (let i = 0; i < value.length;) {
    const found = wordAt(i);
    if (!found) {
      text += Buffer.concat(bytes).toString('utf8') + value[i++];
      bytes = [];
      continue;
    }
    assert.match(found[1], /^utf-8$/i, 'nodemailer encodes as UTF-8');
    const data = found[3];
    const q = () =>
      Buffer.from(
        data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        'latin1',
      );
    bytes.push(/b/i.test(found[2]) ? Buffer.from(data, 'base64') : q());
    i = word.lastIndex;
    const gap = /^[ \t]+/.exec(value.slice(i));
    if (gap && wordAt(i + gap[0].length)) i += gap[0].length;
  }
  return text + Buffer.concat(bytes).toString('utf8');
}

function addressesOf(parsed: AddressObject | AddressObject[] | undefined): Array<{ address: string; name: string }> {
  return (parsed === undefined ? [] : Array.isArray(parsed) ? parsed : [parsed]).flatMap((o) =>
    o.value.map((v) => ({ address: v.address ?? '', name: v.name ?? '' })),
  );
}

function expectedAddresses(list: Address | Address[] | undefined): Array<{ address: string; name: string }> {
  return listOf<Address>(list).map((a) => (typeof a === 'string' ? { address: a, name: '' } : { address: a.address, name: a.name ?? '' }));
}

/** The address as it must read back: the domain may come back in lower case, the local part as written. */
const addressKey = (address: string) => {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
};

/** A display name as it must read back: runs of blanks may come back as one, and none at the ends. */
const nameKey = (name: string) => (looksEncoded(name) ? '(an encoded word)' : trimBlanks(blanks(name)));

function checkAddresses(field: string, parsed: AddressObject | AddressObject[] | undefined, requested: Address | Address[] | undefined) {
  const expected = expectedAddresses(requested).map((a) => ({ address: addressKey(a.address), name: nameKey(a.name) }));
  const actual = addressesOf(parsed).map((a, i) => ({
    address: addressKey(a.address),
    name: expected[i]?.name === '(an encoded word)' ? expected[i].name : nameKey(a.name),
  }));
  assert.deepEqual(actual, expected, `${field} reads back as the request's`);
}

async function checkMessage(mail: MailRequest) {
  const options = composeMessage({ id: 'prop-1', createdAt: '2026-01-01T00:00:00.000Z', mail });
  const node = new MailComposer(options).compile();
  const envelope = node.getEnvelope() as { from: string; to: string[] };
  const raw = await node.build();

  // Lines: none over 998 octets; CRLF only.
  let start = 0;
  for (let i = raw.indexOf(0x0a); i !== -1; i = raw.indexOf(0x0a, start)) {
    assert.equal(raw[i - 1], 0x0d, `a bare LF at octet ${i}`);
    assert.ok(i - 1 - start <= RFC_LINE, `a line of ${i - 1 - start} octets: ${raw.subarray(start, start + 120).toString('latin1')}…`);
    start = i + 1;
  }
  assert.ok(raw.length - start <= RFC_LINE, 'the last line');
  assert.ok(!/\r(?!\n)/.test(raw.toString('latin1')), 'no bare CR');

  // Envelope: exactly the recipients, and the sender.
  // Domains are case-insensitive: nodemailer writes them in lower case.
  assert.equal(addressKey(envelope.from), addressKey(senderOf(mail)));
  const unique = (list: string[]) => [...new Set(list.map(addressKey))].sort();
  assert.deepEqual(unique(envelope.to), unique(recipientsOf(mail)), 'envelope recipients');
  assert.equal(envelope.to.length, unique(envelope.to).length, 'each recipient once in the envelope');

  const parsed: ParsedMail = await simpleParser(raw, { keepCidLinks: true });

  // Headers: none the request did not ask for beyond the product's own, none twice.
  const allowed = allowedHeaders(options as Record<string, unknown>, mail);
  const names = parsed.headerLines.map((h) => h.key);
  for (const name of names) assert.ok(allowed.has(name), `unexpected header ${name} (allowed: ${[...allowed].join(', ')})`);
  assert.deepEqual(
    names.filter((name, i) => names.indexOf(name) !== i),
    [],
    'a header given twice',
  );
  for (const [name, value] of Object.entries(mail.headers ?? {})) {
    // nodemailer leaves out a header whose value is blank; any other is in the message.
    if (value.trim() === '') continue;
    assert.ok(names.includes(name.toLowerCase()), `custom header ${name} is in the message`);
    if (!/^x-/i.test(name)) continue;
    // Unstructured X- headers read back as given, but for the ends.
    const line = parsed.headerLines.find((h) => h.key === name.toLowerCase())!.line;
    assert.ok(sameText(unstructured(line), value), `header ${name}: ${JSON.stringify(line)} for ${JSON.stringify(value)}`);
  }

  // Addresses and subject read back as requested; Bcc is nowhere in the message.
  checkAddresses('From', parsed.from, mail.from);
  checkAddresses('To', parsed.to, mail.to);
  checkAddresses('Cc', parsed.cc, mail.cc);
  checkAddresses('Reply-To', parsed.replyTo, mail.replyTo);
  assert.equal(parsed.bcc, undefined, 'no Bcc header');
  assert.ok(sameText(parsed.subject, mail.subject), `subject ${JSON.stringify(parsed.subject)} for ${JSON.stringify(mail.subject)}`);

  // Attachments: each found with its filename, type, bytes and content id; nothing more. application/octet-stream
  // (the default) says nothing of the type, and mailparser then guesses one from the filename.
  const found = parsed.attachments.map((a) => ({
    filename: a.filename ?? '',
    contentType: a.contentType,
    content: a.content.toString('base64'),
    contentId: a.cid,
  }));
  const unmatched = [...found];
  for (const want of mail.attachments ?? []) {
    const at = unmatched.findIndex(
      (got) =>
        got.content === want.content &&
        got.contentId === want.contentId &&
        sameText(got.filename, want.filename) &&
        (/^application\/octet-stream$/i.test(want.contentType) || got.contentType === want.contentType.toLowerCase()),
    );
    assert.ok(
      at !== -1,
      `attachment ${JSON.stringify({ ...want, content: `${want.content.length} base64 characters` })} not found in ${JSON.stringify(found.map((f) => ({ ...f, content: `${f.content.length} base64 characters` })))}`,
    );
    unmatched.splice(at, 1);
  }
  assert.deepEqual(unmatched, [], 'attachments the request did not have');
}

/** Requests found to break a property: they run first, every time, before the generated ones. */
const EXAMPLES: Array<[Record<string, unknown>]> = [
  // A text/* attachment with a contentId goes out as an inline part, and the receiver reads it as body text.
  [
    {
      to: 'a@example.com',
      subject: 'inline text',
      html: '<p>x</p><img src="cid:a">',
      attachments: [{ filename: 'notes.txt', contentType: 'text/plain', content: 'aGVsbG8=', contentId: 'a' }],
    },
  ],
  // In-Reply-To and References are written as they are, wrapped in <>: unbracketed at the limit, a line of 1000 octets…
  [{ to: 'a@example.com', subject: 'reply', text: 't', headers: { 'In-Reply-To': 'x'.repeat(MAX_HEADER_VALUE) } }],
  // …and non-ASCII goes out as raw UTF-8 in the header, up to four octets a character.
  [{ to: 'a@example.com', subject: 'reply', text: 't', headers: { References: '中'.repeat(400) } }],
];

test(`for any accepted request, the composed message keeps its shape (${NUM_RUNS} runs)`, async () => {
  let accepted = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(mailRequest, async (request) => {
      const result = parseMailRequest(request);
      if (!result.ok) refused++;
      fc.pre(result.ok);
      accepted++;
      // The sender as the intake leaves it: the default sender when none is given.
      await checkMessage({ ...result.value, from: result.value.from ?? SENDER });
    }),
    {
      numRuns: NUM_RUNS,
      examples: EXAMPLES,
      maxSkipsPerRun: 20,
      ...(SEED === undefined ? {} : { seed: SEED }),
      // A bound on the whole run, shrinking included, well inside the runner's 60 s without a test finishing.
      interruptAfterTimeLimit: Math.max(30_000, NUM_RUNS * 150),
      markInterruptAsFailure: true,
      includeErrorInReport: true,
    },
  );
  console.log(
    `mime properties: ${accepted} accepted requests composed and checked, ${refused} generated requests refused by the validator`,
  );
  assert.ok(accepted >= NUM_RUNS, `${accepted} requests checked`);
});
