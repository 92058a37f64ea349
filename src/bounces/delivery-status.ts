// The fields of a `message/delivery-status` body (RFC 3464): one block of per-message fields, then one block per
// recipient, blocks separated by blank lines. No maintained npm package parses these blocks (mailparser hands the
// part over as it is); libmime, on which mailparser is built, reads each block's header fields (unfolding, one
// list per name), and this module adds what RFC 3464 asks of them, strictly and within bounds: reports come from
// anyone who can mail the sending mailbox.
import libmime from 'libmime';

export const DELIVERY_ACTIONS = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'] as const;
export type DeliveryAction = (typeof DELIVERY_ACTIONS)[number];

/** What one recipient's block says. */
export interface RecipientStatus {
  /** The address of Final-Recipient (or Original-Recipient when that is an rfc822 address), lower case. */
  recipient: string;
  originalRecipient?: string;
  action: DeliveryAction;
  /** The enhanced status code, `5.1.1`. */
  status: string;
  diagnosticCode?: string;
  remoteMta?: string;
}

export interface DeliveryStatus {
  reportingMta?: string;
  recipients: RecipientStatus[];
}

/** Largest delivery-status body read: Exchange's reach 500 recipients of a few hundred bytes each. */
export const MAX_DELIVERY_STATUS_BYTES = 256 * 1024;
/** Exchange takes at most 500 recipients a message; a report naming more is not one of ours. */
export const MAX_REPORTED_RECIPIENTS = 500;
/** Longest field value kept (a diagnostic code can quote a whole remote reply). */
const MAX_FIELD_CHARS = 1000;

export class DeliveryStatusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryStatusError';
  }
}

/** RFC 3463 status: class 2, 4 or 5, subject and detail of one to three digits. */
const STATUS_CODE = /^([245])\.(\d{1,3})\.(\d{1,3})$/;
/** `rfc822; someone@example.com`: the address type, then the address. */
const TYPED_VALUE = /^([A-Za-z0-9-]{1,40})\s*;\s*(.*)$/s;
const ADDRESS = /^[^\s@<>(),;:"[\]\\]{1,64}@[^\s@<>(),;:"[\]\\]{1,255}$/;

/** Parses the body of a `message/delivery-status` part; throws DeliveryStatusError when it is not one. */
export function parseDeliveryStatus(body: string): DeliveryStatus {
  if (Buffer.byteLength(body) > MAX_DELIVERY_STATUS_BYTES) throw new DeliveryStatusError(`larger than ${MAX_DELIVERY_STATUS_BYTES} bytes`);
  const blocks = body
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((block) => block.replace(/^\n+|\n+$/g, ''))
    .filter((block) => block.trim() !== '');
  if (blocks.length < 2) throw new DeliveryStatusError('no per-recipient fields');
  if (blocks.length - 1 > MAX_REPORTED_RECIPIENTS) throw new DeliveryStatusError(`more than ${MAX_REPORTED_RECIPIENTS} recipients`);
  const [message, ...recipientBlocks] = blocks.map(fieldsOf);
  return {
    reportingMta: typedValue(single(message, 'reporting-mta'))?.value,
    recipients: recipientBlocks.map((fields, index) => recipientStatus(fields, index)),
  };
}

type Fields = Record<string, string[]>;

function fieldsOf(block: string): Fields {
  for (const line of block.split('\n')) {
    if (!/^[ \t]/.test(line) && !/^[!-9;-~]+:/.test(line)) throw new DeliveryStatusError(`not a header field: "${line.slice(0, 60)}"`);
  }
  return libmime.decodeHeaders(block, { skipPrototypeKeys: true });
}

/** The value of a field that may appear once; a repeated one makes the block ambiguous. */
function single(fields: Fields, name: string): string | undefined {
  const values = Object.hasOwn(fields, name) ? fields[name] : undefined;
  if (!values || values.length === 0) return undefined;
  if (values.length > 1) throw new DeliveryStatusError(`${name} appears ${values.length} times in one block`);
  const value = values[0].replace(/\r?\n[ \t]+/g, ' ').trim();
  return value === '' ? undefined : value.slice(0, MAX_FIELD_CHARS);
}

function typedValue(field: string | undefined): { type: string; value: string } | undefined {
  if (field === undefined) return undefined;
  const match = TYPED_VALUE.exec(field);
  if (!match) throw new DeliveryStatusError(`"${field.slice(0, 60)}" is not "type; value"`);
  return { type: match[1].toLowerCase(), value: match[2].trim() };
}

function recipientStatus(fields: Fields, index: number): RecipientStatus {
  const where = `recipient ${index + 1}`;
  const final = typedValue(single(fields, 'final-recipient'));
  if (!final) throw new DeliveryStatusError(`${where}: no Final-Recipient`);
  const original = typedValue(single(fields, 'original-recipient'));
  const address = addressOf(final) ?? addressOf(original);
  if (!address) throw new DeliveryStatusError(`${where}: Final-Recipient is not an rfc822 address`);
  const action = single(fields, 'action')?.toLowerCase();
  if (!action || !(DELIVERY_ACTIONS as readonly string[]).includes(action))
    throw new DeliveryStatusError(`${where}: Action must be one of ${DELIVERY_ACTIONS.join(', ')}`);
  // A status may carry a comment after the code ("5.1.1 (unknown user)"), which RFC 3464 allows.
  const status = single(fields, 'status')?.split(/[\s(]/)[0];
  if (!status || !STATUS_CODE.test(status)) throw new DeliveryStatusError(`${where}: Status must be a code such as 5.1.1`);
  const diagnostic = typedValue(single(fields, 'diagnostic-code'));
  const remoteMta = typedValue(single(fields, 'remote-mta'));
  return {
    recipient: address,
    ...(original && addressOf(original) ? { originalRecipient: addressOf(original) } : {}),
    action: action as DeliveryAction,
    status,
    ...(diagnostic ? { diagnosticCode: diagnostic.value } : {}),
    ...(remoteMta ? { remoteMta: remoteMta.value } : {}),
  };
}

function addressOf(field: { type: string; value: string } | undefined): string | undefined {
  if (!field || field.type !== 'rfc822') return undefined;
  const address = field.value.replace(/^<(.*)>$/, '$1').toLowerCase();
  return ADDRESS.test(address) ? address : undefined;
}
