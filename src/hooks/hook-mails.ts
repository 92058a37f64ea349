// One delivery to a hook turned into mails: the payload checked and parsed, split into deliveries, each rendered by
// the template with its key derived, then every mail handed to the intake as a parsed request. All of them are
// queued, or (refused) none.
import { createHash } from 'node:crypto';
import type { HttpResponseInit } from '@azure/functions';
import type { AuthenticatedCaller } from '../callers/authenticate';
import type { IntakeResult, MailRequestInput } from '../intake/accept-mail';
import { readJsonBody } from '../intake/parse-json-body';
import { problem, refusalResponse } from '../http/problem';
import { isJsonContentType, mediaTypeOf } from '../http/request-headers';
import type { Logger } from '../logger';
import type { StatusRecord } from '../status/status-store';
import { deliveriesOf } from './deliveries';
import { renderMail } from './render';
import type { TemplateStore } from './template-store';

export interface HookPayload {
  /** The template's name, checked (isTemplateName). */
  name: string;
  /** Whether a signature vouched for the payload: then the URL, which it does not cover, is not read. */
  signed: boolean;
  caller: AuthenticatedCaller;
  contentType: string | null;
  body: Buffer;
  /** What makes this delivery unique, when the request says (signature or Idempotency-Key). */
  deliveryKey: string | undefined;
  /** Marked as Event Grid's subscription handshake (aeg-event-type). */
  handshake: boolean;
  /** The URL's parameters. */
  query: Iterable<[string, string]>;
}

export interface HookMailDeps {
  templates: Pick<TemplateStore, 'get'>;
  /** The intake, for a request already parsed. */
  accept: (input: MailRequestInput) => Promise<IntakeResult>;
  log: Logger;
}

/** The mails a delivery was accepted as, or the answer that refused it. */
export type HookOutcome = { records: StatusRecord[] } | { records?: undefined; response: HttpResponseInit };

/** Renders a delivery into mails and hands each to the intake: all of them, or (refused) none. */
export async function acceptHookMails(payload: HookPayload, { templates, accept, log }: HookMailDeps): Promise<HookOutcome> {
  const { name, signed, caller, body, deliveryKey } = payload;
  const refused = (response: HttpResponseInit): HookOutcome => ({ response });
  if (!isJsonContentType(payload.contentType)) {
    const mediaType = mediaTypeOf(payload.contentType);
    return refused(problem(415, 'Unsupported media type', `Send the payload as application/json (got ${mediaType || 'no Content-Type'}).`));
  }
  const found = await templates.get(name);
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
  // Read as POST /api/mail reads a body: a member name given twice is refused, since readers disagree on which counts.
  const read = readJsonBody(body);
  if (!read.ok) {
    return refused(
      'duplicate' in read
        ? problem(400, 'Invalid JSON', `${read.duplicate.field} is given twice in one object.`, [read.duplicate])
        : refusalResponse(read.invalid),
    );
  }

  const deliveries = deliveriesOf(template, read.json, deliveryKey, payload.handshake);
  if ('response' in deliveries) return refused(deliveries.response);

  // The URL's parameters, less a key: whoever sets up an unsigned hook chooses them (e.g. ?to= for recipients).
  const query = signed ? {} : { query: Object.fromEntries([...payload.query].filter(([key]) => key !== 'code')) };
  const mails: MailRequestInput[] = [];
  for (const delivery of deliveries.list) {
    const rendered = await renderMail(template, { ...delivery.scope, ...query, hook: { template: name } });
    if (!rendered.ok) {
      log.warn(`Could not render template ${name} for ${caller.caller.name}: ${rendered.detail}`);
      return refused(refusalResponse(rendered));
    }
    mails.push({ request: rendered.mail, idempotencyKey: mailKey(name, rendered.keyMaterial, delivery.key), caller });
  }
  // Every mail is rendered before any is queued: a bad event refuses the delivery without sending half of it.
  const records: StatusRecord[] = [];
  for (const mail of mails) {
    let result;
    try {
      result = await accept(mail);
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

/**
 * A mail's Idempotency-Key: from what the template names as the key, else from what makes the delivery unique; none
 * when neither says. Hashed, so the key is always within the key rule and tells nothing of the payload.
 */
export function mailKey(name: string, templateKey: string | undefined, deliveryKey: string | undefined): string | undefined {
  const material = templateKey ? `template:${templateKey}` : deliveryKey;
  return material ? `hook-${name}-${sha256(material).slice(0, 48)}` : undefined;
}

export function templateInvalid(name: string): HttpResponseInit {
  return problem(500, 'Template invalid', `Template ${name} cannot be used; the operators have been told in the logs.`);
}

export function noSuchTemplate(): HttpResponseInit {
  return problem(404, 'No such template', 'No template of this name; names are lowercase letters, digits and single hyphens.');
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
