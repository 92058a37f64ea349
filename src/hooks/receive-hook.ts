// POST /api/hooks/{template} without the Functions host: who is calling (a signature over the raw bytes, or an
// authenticated caller), a signed delivery handled once, then the payload's mails, answered 202 with each mail's
// status URL. The host's adapter passes the request's parts and the stores in.
import type { HttpResponseInit } from '@azure/functions';
import type { AuthenticatedCaller } from '../callers/authenticate';
import { problem, withRetryAfter } from '../http/problem';
import { IDEMPOTENCY_KEY_ERROR, isIdempotencyKey } from '../http/request-headers';
import { retryAfterSeconds, statusView } from '../status/status-view';
import type { StatusRecord, StatusStore } from '../status/status-store';
import type { DeliveryClaim, DeliveryRecords, NewDelivery } from './delivery-record';
import { hookCaller, type HookConfig } from './hook-policy';
import { acceptHookMails, noSuchTemplate, type HookMailDeps, type HookOutcome } from './hook-mails';
import { verifySignature } from './signatures';
import { isTemplateName } from './template-name';

/** The parts of the HTTP request the hook path reads. */
export interface HookRequest {
  /** The route's {template}. */
  template: string | undefined;
  header: (name: string) => string | null;
  query: Iterable<[string, string]>;
  /** The body, read up to the limit and no further. */
  readBody(limit: number): Promise<{ ok: true; body: Buffer } | { ok: false; bytes: number }>;
  /** The authenticated caller of an unsigned hook, or the answer that refuses it. */
  caller(): Promise<{ ok: true; value: AuthenticatedCaller } | { ok: false; response: HttpResponseInit }>;
  statusUrl(id: string): string;
}

export interface HookDeps extends HookMailDeps {
  hooks: Pick<HookConfig, 'maxPayloadBytes' | 'signed' | 'secrets'>;
  /** The replay record of signed hooks. */
  deliveries: DeliveryRecords;
  status: Pick<StatusStore, 'get'>;
}

export async function receiveHook(request: HookRequest, deps: HookDeps): Promise<HttpResponseInit> {
  const { hooks, log } = deps;
  const name = request.template;
  if (!isTemplateName(name)) return noSuchTemplate();
  const limit = hooks.maxPayloadBytes;
  const signed = hooks.signed.find((h) => h.template === name);

  // Who is calling comes first; a signed hook's signature covers the raw bytes, so they are read (bounded) first.
  let caller: AuthenticatedCaller;
  let body: Buffer;
  let deliveryKey: string | undefined;
  let claim: NewDelivery | undefined;
  if (signed) {
    const read = await request.readBody(limit);
    if (!read.ok) return tooLarge(limit, read.bytes);
    const check = verifySignature(signed.signature, request.header, read.body, hooks.secrets.get(name) ?? []);
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
      seen = await deps.deliveries.claim(name, check.deliveryKey);
    } catch (error) {
      log.error(`Could not read the replay record of hook ${name}: ${(error as Error).message}`);
      return problem(503, 'Storage unavailable', 'The delivery could not be checked against earlier ones; deliver it again.');
    }
    if (seen.state === 'accepted') {
      log.log(`Hook ${name}: a repeated delivery, answered with its ${seen.mailIds.length} mail(s); nothing sent again`);
      return accepted(request, await knownRecords(deps.status, seen.mailIds));
    }
    if (seen.state === 'handling') {
      return withRetryAfter(
        problem(409, 'Delivery being handled', 'This delivery is being handled right now; deliver it again later.'),
        seen.retryAfterSeconds,
      );
    }
    claim = seen;
  } else {
    const who = await request.caller();
    if (!who.ok) return who.response;
    caller = who.value;
    const read = await request.readBody(limit);
    if (!read.ok) return tooLarge(limit, read.bytes);
    body = read.body;
    const key = request.header('idempotency-key');
    if (key !== null) {
      if (!isIdempotencyKey(key))
        return problem(400, 'Invalid request', 'Idempotency-Key must be 1-255 visible ASCII characters.', [IDEMPOTENCY_KEY_ERROR]);
      deliveryKey = `key:${key}`;
    }
  }

  let outcome: HookOutcome;
  try {
    outcome = await acceptHookMails(
      {
        name,
        signed: signed !== undefined,
        caller,
        contentType: request.header('content-type'),
        body,
        deliveryKey,
        handshake: request.header('aeg-event-type') === 'SubscriptionValidation',
        query: request.query,
      },
      deps,
    );
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
  return outcome.records ? accepted(request, outcome.records) : outcome.response;
}

/** 202 with each mail's status URL (and Location / Retry-After when the delivery became exactly one mail). */
function accepted(request: HookRequest, records: readonly StatusRecord[]): HttpResponseInit {
  const views = records.map((record) => ({ ...statusView(record), statusUrl: request.statusUrl(record.id) }));
  const single = records.length === 1 ? records[0] : undefined;
  return {
    status: 202,
    headers: single ? { Location: views[0].statusUrl, 'Retry-After': String(retryAfterSeconds(single)) } : {},
    jsonBody: { mails: views },
  };
}

async function knownRecords(status: Pick<StatusStore, 'get'>, ids: readonly string[]): Promise<StatusRecord[]> {
  const found = await Promise.all(ids.map((id) => status.get(id)));
  return found.flatMap((stored) => (stored ? [stored.record] : []));
}

function tooLarge(limit: number, bytes: number): HttpResponseInit {
  return problem(413, 'Payload too large', `The payload is over ${limit} bytes (at least ${bytes}; MAIL_HOOK_MAX_BYTES).`);
}
