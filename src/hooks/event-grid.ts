// Event Grid deliveries to a webhook: the Event Grid schema (an array of events with eventType) or CloudEvents 1.0
// (one structured event, or a batch array), the subscription validation handshake, and the mails a batch becomes.
// Not the cloudevents package's HTTP.toEvent: it takes the body as text and parses it again (the hook has parsed it
// once, within MAIL_HOOK_MAX_BYTES), bounds no batch, knows nothing of the Event Grid schema beside it, and its
// require (ajv, ajv-formats) takes 190-400 ms on this machine.
import { createHash } from 'node:crypto';

export const VALIDATION_EVENT = 'Microsoft.EventGrid.SubscriptionValidationEvent';
/** Event Grid's own notices about the subscription; nobody wants a mail for them. */
const SYSTEM_EVENTS = new Set(['Microsoft.EventGrid.SubscriptionDeletedEvent']);
/** One mail per event is bounded per request; set the subscription's maxEventsPerBatch at or below it. */
export const MAX_MAILS_PER_DELIVERY = 100;
const MAX_EVENTS = 5_000;

export type GridEvent = Record<string, unknown>;
export type EventBatch = { schema: 'eventgrid' | 'cloudevents'; events: GridEvent[] };

export type ParsedEvents = { ok: true; batch: EventBatch } | { ok: false; detail: string };

export function parseEvents(json: unknown): ParsedEvents {
  const list: unknown[] | undefined = Array.isArray(json)
    ? json
    : json !== null && typeof json === 'object' && 'specversion' in json
      ? [json]
      : undefined;
  if (!list) return { ok: false, detail: 'Expected Event Grid events: an array of events, or one CloudEvent.' };
  if (list.length === 0) return { ok: false, detail: 'The batch holds no events.' };
  if (list.length > MAX_EVENTS) return { ok: false, detail: `The batch holds ${list.length} events; at most ${MAX_EVENTS}.` };
  const events: GridEvent[] = [];
  let schema: EventBatch['schema'] | undefined;
  for (const [index, item] of list.entries()) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return { ok: false, detail: `Event ${index} is not an object.` };
    const event = item as GridEvent;
    const kind =
      typeof event.eventType === 'string'
        ? 'eventgrid'
        : event.specversion === '1.0' && typeof event.type === 'string'
          ? 'cloudevents'
          : undefined;
    if (!kind)
      return { ok: false, detail: `Event ${index} is neither an Event Grid event (eventType) nor a CloudEvent 1.0 (specversion, type).` };
    if (typeof event.id !== 'string' || !event.id) return { ok: false, detail: `Event ${index} has no id.` };
    if (schema && schema !== kind) return { ok: false, detail: 'The batch mixes Event Grid events and CloudEvents.' };
    schema = kind;
    events.push(event);
  }
  return { ok: true, batch: { schema: schema!, events } };
}

/** The validation code, when the batch is Event Grid's subscription validation handshake. */
export function validationCode(batch: EventBatch): string | undefined {
  const [event] = batch.events;
  if (batch.schema !== 'eventgrid' || batch.events.length !== 1 || event?.eventType !== VALIDATION_EVENT) return undefined;
  const code = (event.data as { validationCode?: unknown } | undefined)?.validationCode;
  return typeof code === 'string' && code.length <= 200 ? code : undefined;
}

export function isValidationEvent(batch: EventBatch): boolean {
  return batch.events.some((e) => e.eventType === VALIDATION_EVENT);
}

export function mailableEvents(batch: EventBatch): GridEvent[] {
  return batch.events.filter((e) => !SYSTEM_EVENTS.has(String(e.eventType ?? e.type)));
}

/** Event Grid redelivers an event with the same id (unique per source): the key that makes a redelivery no new mail. */
export function eventKey(event: GridEvent): string {
  return `event:${sha256(`${text(event.topic ?? event.source)}\n${text(event.id)}`)}`;
}

export function digestKey(events: readonly GridEvent[]): string {
  return `events:${sha256(events.map(eventKey).sort().join('\n'))}`;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What templates see of an event, the same for both schemas; the event as delivered is `raw`. */
export interface EventView {
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  data: unknown;
  raw: GridEvent;
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');

export function eventView(event: GridEvent): EventView {
  return {
    id: text(event.id),
    type: text(event.eventType ?? event.type),
    source: text(event.topic ?? event.source),
    subject: text(event.subject),
    time: text(event.eventTime ?? event.time),
    data: event.data ?? null,
    raw: event,
  };
}
