// A delivery report as read from the sending mailbox: a `multipart/report; report-type=delivery-status` message
// (RFC 3462/3464), parsed with mailparser. What the product needs of it: the report's own Message-ID (so reading it
// twice records it once), the Message-IDs of the message it reports on, and what happened to each recipient.
import { createHash } from 'node:crypto';
import libmime from 'libmime';
import { simpleParser, type ParsedMail } from 'mailparser';
import { DeliveryStatusError, parseDeliveryStatus, type RecipientStatus } from './delivery-status';

export interface DeliveryReport {
  /** The report's Message-ID, or a digest of its bytes when it has none. */
  reportId: string;
  /**
   * Message-IDs that may name the reported message, most specific first: the original's headers
   * (text/rfc822-headers or message/rfc822), then In-Reply-To and References (Exchange sets both on its reports).
   */
  originalMessageIds: string[];
  reportingMta?: string;
  recipients: RecipientStatus[];
}

export type ParsedReport = { report: DeliveryReport } | { notAReport: string };

/** At most this many Message-IDs are taken from References: a report refers to one message. */
const MAX_REFERENCES = 20;
const MESSAGE_ID = /<[^<>\s]{1,250}>/g;

/** Reads one fetched message; anything that is not a well-formed delivery report says why, and changes nothing. */
export async function parseDeliveryReport(raw: Buffer): Promise<ParsedReport> {
  let mail: ParsedMail;
  try {
    mail = await simpleParser(raw, { keepDeliveryStatus: true, skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  } catch (error) {
    return { notAReport: `unreadable MIME: ${error instanceof Error ? error.message.slice(0, 200) : 'unknown error'}` };
  }
  const contentType = mail.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
  if (contentType?.value?.toLowerCase() !== 'multipart/report' || contentType.params?.['report-type']?.toLowerCase() !== 'delivery-status')
    return { notAReport: 'not multipart/report; report-type=delivery-status' };
  const statusParts = mail.attachments.filter((part) => part.contentType.toLowerCase() === 'message/delivery-status');
  if (statusParts.length !== 1) return { notAReport: `${statusParts.length} message/delivery-status parts, expected one` };
  let recipients: RecipientStatus[];
  let reportingMta: string | undefined;
  try {
    ({ recipients, reportingMta } = parseDeliveryStatus(statusParts[0].content.toString('utf8')));
  } catch (error) {
    if (error instanceof DeliveryStatusError) return { notAReport: `message/delivery-status: ${error.message}` };
    throw error;
  }
  return {
    report: {
      reportId: mail.messageId ?? `<sha256-${createHash('sha256').update(raw).digest('hex')}@report>`,
      originalMessageIds: originalMessageIds(mail),
      ...(reportingMta ? { reportingMta } : {}),
      recipients,
    },
  };
}

function originalMessageIds(mail: ParsedMail): string[] {
  const original = mail.attachments.find((part) => ['text/rfc822-headers', 'message/rfc822'].includes(part.contentType.toLowerCase()));
  const headers = original ? libmime.decodeHeaders(original.content.toString('utf8'), { skipPrototypeKeys: true }) : {};
  const fromOriginal = Object.hasOwn(headers, 'message-id') ? headers['message-id'] : [];
  const references = typeof mail.references === 'string' ? [mail.references] : (mail.references ?? []);
  const candidates = [...fromOriginal, mail.inReplyTo ?? '', ...references.slice(-MAX_REFERENCES)];
  return [...new Set(candidates.flatMap((value) => value.match(MESSAGE_ID) ?? []))];
}
