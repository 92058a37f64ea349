// POST /api/hooks/{template}: a webhook's own JSON (an Azure Monitor alert, Event Grid events, a GitHub or any other
// payload) rendered into mails by a named template and handed to the same intake as POST /api/mail, so validation,
// sender policy, idempotency, quota and status apply unchanged. Answers 202 with each mail's status URL.
import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AuthenticatedCaller } from '../callers/authenticate';
import { acceptMail } from '../intake/accept-mail';
import { hookCaller } from '../hooks/hook-policy';
import { deliveryRecordsOf, templateStoreOf } from '../hooks/hook-runtime';
import type { DeliveryClaim, NewDelivery } from '../hooks/delivery-record';
import { renderMail, type CompiledTemplate } from '../hooks/render';
import { verifySignature } from '../hooks/signatures';
import { isTemplateName } from '../hooks/template-name';
import {
  digestKey,
  eventKey,
  eventView,
  isValidationEvent,
  mailableEvents,
  MAX_MAILS_PER_DELIVERY,
  parseEvents,
  validationCode,
} from '../hooks/event-grid';
import { retryAfterSeconds, statusView } from '../status/status-view';
import type { StatusRecord } from '../status/status-store';
import type { Runtime } from '../runtime';
import { problem, refusalResponse, withRetryAfter } from '../http/problem';
import { IDEMPOTENCY_KEY_ERROR, isIdempotencyKey, isJsonContentType, mediaTypeOf } from '../http/request-headers';
import { readBodyWithin } from './read-body';
import { statusUrl } from './status-url';
import { unsignedHookCaller } from './hook-caller';
import { privateLogger, type Logger } from '../logger';

interface Delivery {
  scope: Record<string, unknown>;
  /** What makes a repeat of this delivery the same mail, when the delivery says. */
  key?: string;
}

export function createPostHookHandler(runtime: () => Runtime) {
  return async function postHook(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const rt = runtime();
    const { config } = rt;
    const log = privateLogger(context, config.logAddresses);
    const name = request.params.template;
    if (!isTemplateName(name)) return noSuchTemplate();
    const limit = config.hooks.maxPayloadBytes;
    const signed = config.hooks.signed.find((h) => h.template === name);

    // Who is calling comes first; a signed hook's signature covers the raw bytes, so they are read (bounded) first.
    let caller: AuthenticatedCaller;
    let body: Buffer;
    let deliveryKey: string | undefined;
    let claim: NewDelivery | undefined;
    if (signed) {
      const read = await readBodyWithin(request, limit);
      if (!read.ok) return tooLarge(limit, read.bytes);
      const check = verifySignature(signed.signature, (h) => request.headers.get(h), read.body, config.hooks.secrets.get(name) ?? []);
      if (!check.ok) {
        log.warn(`Refused a delivery to hook ${name}: ${check.detail}`);
        return problem(401, 'Signature not valid', check.detail);
      }
      caller = { caller: hookCaller(signed) };
      body = read.body;
      deliveryKey = check.deliveryKey;
      // A delivery the signature vouches for is handled once: a repeat is answered with what the first one made.
      let seen: DeliveryClaim;
      try {
        seen = await deliveryRecordsOf(rt).claim(name, check.deliveryKey);
      } catch (error) {
        log.error(`Could not read the replay record of hook ${name}: ${(error as Error).message}`);
        return problem(503, 'Storage unavailable', 'The delivery could not be checked against earlier ones; deliver it again.');
      }
      if (seen.state === 'accepted') {
        log.log(`Hook ${name}: a repeated delivery, answered with its ${seen.mailIds.length} mail(s); nothing sent again`);
        return accepted(rt, request, await knownRecords(rt, seen.mailIds));
      }
      if (seen.state === 'handling') {
        return withRetryAfter(
          problem(409, 'Delivery being handled', 'This delivery is being handled right now; deliver it again later.'),
          seen.retryAfterSeconds,
        );
      }
      claim = seen;
    } else {
      const who = await unsignedHookCaller(rt, request);
      if (!who.ok) return who.response;
      caller = who.value;
      const read = await readBodyWithin(request, limit);
      if (!read.ok) return tooLarge(limit, read.bytes);
      body = read.body;
      const key = request.headers.get('idempotency-key');
      if (key !== null) {
        if (!isIdempotencyKey(key))
          return problem(400, 'Invalid request', 'Idempotency-Key must be 1-255 visible ASCII characters.', [IDEMPOTENCY_KEY_ERROR]);
        deliveryKey = `key:${key}`;
      }
    }

    let outcome: Outcome;
    try {
      outcome = await handle(rt, { request, log, name, signed: signed !== undefined, caller, body, deliveryKey });
    } catch (error) {
      await claim?.abandon().catch(() => undefined);
      throw error;
    }
    if (claim) {
      // Not recorded: a repeat waits for the lease to lapse, then is handled again and finds the same mails by their keys.
      await (outcome.records ? claim.accepted(outcome.records.map((r) => r.id)) : claim.abandon()).catch((error: Error) =>
        log.warn(`Could not record the outcome of a delivery to hook ${name}: ${error.message}`),
      );
    }
    return outcome.records ? accepted(rt, request, outcome.records) : outcome.response;
  };
}

interface Attempt {
  request: HttpRequest;
  log: Logger;
  name: string;
  signed: boolean;
  caller: AuthenticatedCaller;
  body: Buffer;
  deliveryKey: string | undefined;
}

/** The mails a delivery was accepted as, or the answer that refused it. */
type Outcome = { records: StatusRecord[] } | { records?: undefined; response: HttpResponseInit };

/** Renders a delivery into mails and hands each to the intake: all of them, or (refused) none. */
async function handle(rt: Runtime, { request, log, name, signed, caller, body, deliveryKey }: Attempt): Promise<Outcome> {
  const { config } = rt;
  const refused = (response: HttpResponseInit): Outcome => ({ response });
  const contentType = request.headers.get('content-type');
  if (!isJsonContentType(contentType)) {
    return refused(
      problem(
        415,
        'Unsupported media type',
        `Send the payload as application/json (got ${mediaTypeOf(contentType) || 'no Content-Type'}).`,
      ),
    );
  }
  const found = await templateStoreOf(rt).get(name);
  if (!found.ok) {
    if (found.status === 404) return refused(noSuchTemplate());
    log.error(found.detail);
    return refused(
      found.status === 503
        ? problem(503, 'Template unavailable', 'The template could not be read; send the request again.')
        : templateInvalid(name),
    );
  }
  const template = found.template;
  if (signed && template.readsQuery) {
    // The URL is not signed: whoever presents a captured delivery could choose the recipients (or anything else) there.
    log.error(
      `Template ${name} cannot be used by the signed hook ${name}: it reads query (the URL's parameters), which the signature does not cover. Take the recipients from the template or the signed payload.`,
    );
    return refused(templateInvalid(name));
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return refused(
      problem(400, 'Invalid JSON', `The body is not valid JSON: ${(error as Error).message}`, [
        { field: '(body)', detail: 'not valid JSON' },
      ]),
    );
  }

  const deliveries = toDeliveries(template, json, deliveryKey, request);
  if ('response' in deliveries) return refused(deliveries.response);

  // The URL's parameters, less a key: whoever sets up an unsigned hook chooses them (e.g. ?to= for recipients).
  const query = signed ? {} : { query: Object.fromEntries([...request.query.entries()].filter(([key]) => key !== 'code')) };
  const mails = [];
  for (const delivery of deliveries.list) {
    const rendered = await renderMail(template, { ...delivery.scope, ...query, hook: { template: name } });
    if (!rendered.ok) {
      log.warn(`Could not render template ${name} for ${caller.caller.name}: ${rendered.detail}`);
      return refused(refusalResponse(rendered));
    }
    const material = rendered.keyMaterial ? `template:${rendered.keyMaterial}` : delivery.key;
    mails.push({ mail: rendered.mail, key: material ? `hook-${name}-${sha256(material).slice(0, 48)}` : undefined });
  }
  // Every mail is rendered before any is queued: a bad event refuses the delivery without sending half of it.
  const records: StatusRecord[] = [];
  for (const { mail, key } of mails) {
    let result;
    try {
      result = await acceptMail(
        { contentType: 'application/json', body: Buffer.from(JSON.stringify(mail)), idempotencyKey: key, caller },
        { config, outbox: rt.outbox, status: rt.status, quota: rt.quota },
      );
    } catch (error) {
      log.error(`Could not queue a mail of hook ${name}: ${(error as Error).message}`);
      return refused(
        problem(503, 'Could not queue the message', 'Storage is unavailable; deliver again (mails already queued are not sent twice).'),
      );
    }
    if (result.status !== 202) {
      log.warn(
        `Rejected a mail of hook ${name} for ${caller.caller.name} (${result.status}): ${result.errors?.map((e) => `${e.field}: ${e.detail}`).join('; ') ?? result.detail}`,
      );
      return refused(refusalResponse(result));
    }
    records.push(result.record);
  }
  log.log(`Hook ${name}: ${records.length} mail(s) accepted for ${caller.caller.name} (${records.map((r) => r.id).join(', ') || 'none'})`);
  return { records };
}

/** 202 with each mail's status URL (and Location / Retry-After when the delivery became exactly one mail). */
function accepted(rt: Runtime, request: HttpRequest, records: readonly StatusRecord[]): HttpResponseInit {
  const views = records.map((record) => ({ ...statusView(record), statusUrl: statusUrl(rt.config.publicBaseUrl, request, record.id) }));
  const single = records.length === 1 ? records[0] : undefined;
  return {
    status: 202,
    headers: single ? { Location: views[0].statusUrl, 'Retry-After': String(retryAfterSeconds(single)) } : {},
    jsonBody: { mails: views },
  };
}

async function knownRecords(rt: Runtime, ids: readonly string[]): Promise<StatusRecord[]> {
  const found = await Promise.all(ids.map((id) => rt.status.get(id)));
  return found.flatMap((stored) => (stored ? [stored.record] : []));
}

/** The deliveries a payload makes: the payload itself, or for Event Grid each event or one digest of them. */
function toDeliveries(
  template: CompiledTemplate,
  json: unknown,
  deliveryKey: string | undefined,
  request: HttpRequest,
): { list: Delivery[] } | { response: HttpResponseInit } {
  const handshake = request.headers.get('aeg-event-type') === 'SubscriptionValidation';
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

function templateInvalid(name: string): HttpResponseInit {
  return problem(500, 'Template invalid', `Template ${name} cannot be used; the operators have been told in the logs.`);
}

function noSuchTemplate(): HttpResponseInit {
  return problem(404, 'No such template', 'No template of this name; names are lowercase letters, digits and single hyphens.');
}

function tooLarge(limit: number, bytes: number): HttpResponseInit {
  return problem(413, 'Payload too large', `The payload is over ${limit} bytes (at least ${bytes}; MAIL_HOOK_MAX_BYTES).`);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
