// Event splitting: the deliveries one payload makes. A json template takes the payload as one delivery; an Event
// Grid template answers the subscription handshake, and makes one delivery per event or one digest of the batch.
import type { HttpResponseInit } from '@azure/functions';
import { problem } from '../http/problem';
import type { CompiledTemplate } from './render';
import {
  digestKey,
  eventKey,
  eventView,
  isValidationEvent,
  mailableEvents,
  MAX_MAILS_PER_DELIVERY,
  parseEvents,
  validationCode,
} from './event-grid';

export interface Delivery {
  scope: Record<string, unknown>;
  /** What makes a repeat of this delivery the same mail, when the delivery says. */
  key?: string;
}

/**
 * The deliveries a payload makes, or the answer that ends the request (a refusal, or the handshake's reply).
 * `deliveryKey` is what the request says makes it unique; `handshake` whether it is marked as Event Grid's.
 */
export function deliveriesOf(
  template: CompiledTemplate,
  json: unknown,
  deliveryKey: string | undefined,
  handshake: boolean,
): { list: Delivery[] } | { response: HttpResponseInit } {
  if (template.spec.input !== 'eventgrid') {
    // An Event Grid subscription to a hook not made for it is refused, so the subscription is never confirmed.
    const parsed = parseEvents(json);
    if (handshake || (parsed.ok && isValidationEvent(parsed.batch))) {
      return {
        response: problem(
          400,
          'Not an Event Grid hook',
          `Template ${template.name} takes no Event Grid subscriptions (its input is json).`,
        ),
      };
    }
    return { list: [{ scope: { payload: json }, key: deliveryKey }] };
  }
  const parsed = parseEvents(json);
  if (!parsed.ok) return { response: problem(400, 'Not Event Grid events', parsed.detail, [{ field: '(body)', detail: parsed.detail }]) };
  const code = validationCode(parsed.batch);
  if (code !== undefined) return { response: { status: 200, jsonBody: { validationResponse: code } } };
  if (isValidationEvent(parsed.batch))
    return { response: problem(400, 'Invalid validation event', 'A subscription validation event comes alone, with data.validationCode.') };
  const events = mailableEvents(parsed.batch);
  if (template.spec.batch === 'digest') {
    return {
      list:
        events.length === 0
          ? []
          : [{ scope: { events: events.map(eventView), count: events.length, schema: parsed.batch.schema }, key: digestKey(events) }],
    };
  }
  if (events.length > MAX_MAILS_PER_DELIVERY) {
    return {
      response: problem(
        413,
        'Too many events',
        `${events.length} events would be ${events.length} mails; at most ${MAX_MAILS_PER_DELIVERY} per delivery (set the subscription's maxEventsPerBatch).`,
      ),
    };
  }
  return {
    list: events.map((event) => ({ scope: { event: eventView(event), count: 1, schema: parsed.batch.schema }, key: eventKey(event) })),
  };
}
