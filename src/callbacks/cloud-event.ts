// The callback as it goes on the wire: a CloudEvents 1.0 event in structured mode (application/cloudevents+json),
// signed as Standard Webhooks prescribe (webhook-id, webhook-timestamp, webhook-signature over id.timestamp.body).
// Its data is what GET /api/mail/{id} shows of the mail: no body, no token, no secret.
// Written here, not with the cloudevents package: its HTTP.structured changes the wire (the attributes in another order,
// Content-Type with "; charset=utf-8"), and it loads ajv and ajv-formats, 190-400 ms of require on this machine for
// an event of eight fixed attributes. The callback test reads what we send with that package as a valid CloudEvent.
import { signStandardWebhook } from '../hooks/signatures';
import { statusView, type StatusView } from '../status/status-view';
import type { StatusRecord } from '../status/status-store';
import { isReportOutcome, type CallbackMessage } from './callback-queue';

export const CLOUD_EVENT_CONTENT_TYPE = 'application/cloudevents+json';
/** The event types: `exo-smtp-mailer.mail.sent`, `.failed`, `.bounced` and `.delayed`. */
export const EVENT_TYPE_PREFIX = 'exo-smtp-mailer.mail';

export interface MailOutcomeEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: StatusView;
}

/** The source attribute: the API's status endpoint when the app knows its address, else its path. */
export function eventSource(publicBaseUrl: string | undefined): string {
  return `${publicBaseUrl ?? ''}/api/mail`;
}

/** One event per outcome of a mail: its id is the same on every attempt, so receivers can drop repeats. */
export function outcomeEvent(record: StatusRecord, message: CallbackMessage, source: string): MailOutcomeEvent {
  // The callback's own progress is not part of the outcome it reports.
  const { callback: _progress, ...data } = statusView(record);
  return {
    specversion: '1.0',
    id: eventId(message),
    source,
    type: `${EVENT_TYPE_PREFIX}.${message.outcome}`,
    subject: record.id,
    time: message.occurredAt,
    datacontenttype: 'application/json',
    data,
  };
}

/**
 * The same on every attempt of one event, so receivers can drop repeats. A mail is sent or fails once, but may get
 * several reports: those events are told apart by the time the report was recorded.
 */
export function eventId(message: Pick<CallbackMessage, 'id' | 'outcome' | 'occurredAt'>): string {
  const base = `${message.id}.${message.outcome}`;
  return isReportOutcome(message.outcome) ? `${base}.${Date.parse(message.occurredAt)}` : base;
}

/**
 * The body and headers of one attempt; the timestamp is the attempt's, so a retry is never stale. One signature per
 * secret, space-separated (two while the secret is rotated: a receiver verifies with whichever it has).
 */
export function signedRequest(
  event: MailOutcomeEvent,
  secrets: readonly string[],
  nowMs: number,
): { body: Buffer; headers: Record<string, string> } {
  const body = Buffer.from(JSON.stringify(event), 'utf8');
  const timestamp = Math.floor(nowMs / 1000);
  return {
    body,
    headers: {
      'Content-Type': CLOUD_EVENT_CONTENT_TYPE,
      'webhook-id': event.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': secrets.map((secret) => signStandardWebhook(secret, event.id, timestamp, body)).join(' '),
    },
  };
}
