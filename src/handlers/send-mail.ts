// POST /api/mail: validate, record, enqueue; answer 202 with the id, a Location to poll and Retry-After,
// the Logic Apps asynchronous pattern, so an HTTP action waits for the real outcome by default.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { acceptMail, maxRequestBytes, type IntakeDeps } from '../intake/accept-mail';
import { retryAfterSeconds, statusView } from '../status/status-view';
import type { MailConfig } from '../config/load-config';
import { problem, refusalResponse } from '../http/problem';
import { readBodyWithin } from './read-body';
import { statusUrl } from './status-url';
import { callerOf, type Authenticate } from './caller';
import { principalOf } from '../callers/authenticate';
import { inSpan } from '../telemetry/spans';
import { privateLogger } from '../logger';

export interface SendMailDeps extends IntakeDeps {
  config: IntakeDeps['config'] & Pick<MailConfig, 'logAddresses' | 'publicBaseUrl'>;
  authenticate: Authenticate;
}

export function createSendMailHandler(deps: () => SendMailDeps) {
  return async function sendMail(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const { config, outbox, status, quota, authenticate } = deps();
    const log = privateLogger(context, config.logAddresses);
    // Who is calling comes first: an unknown caller learns nothing about the request's validity.
    const caller = await callerOf(authenticate, request, 'send');
    if (!caller.ok) return caller.response;
    const limit = maxRequestBytes(config.maxMessageBytes);
    const read = await readBodyWithin(request, limit);
    if (!read.ok) return problem(413, 'Request too large', `The body is over ${limit} bytes (at least ${read.bytes}).`);
    const { body } = read;
    let result;
    try {
      result = await inSpan('mail.accept', { 'mail.caller': principalOf(caller.value) }, () =>
        acceptMail(
          {
            contentType: request.headers.get('content-type'),
            body,
            idempotencyKey: request.headers.get('idempotency-key'),
            caller: caller.value,
          },
          { config, outbox, status, quota },
        ),
      );
    } catch (error) {
      log.error(`Could not queue a mail request: ${(error as Error).message}`);
      return problem(
        503,
        'Could not queue the message',
        'Storage is unavailable; send the request again (with the same Idempotency-Key to be safe).',
      );
    }
    if (result.status !== 202) {
      log.warn(
        `Rejected mail request of ${principalOf(caller.value)} (${result.status}): ${result.errors?.map((e) => `${e.field}: ${e.detail}`).join('; ') ?? result.detail}`,
      );
      return refusalResponse(result);
    }
    const { record } = result;
    const location = statusUrl(config.publicBaseUrl, request, record.id);
    log.log(
      result.repeated
        ? `Repeated request for message ${record.id} (Idempotency-Key); nothing queued.`
        : `Accepted message ${record.id} from ${principalOf(caller.value)}`,
    );
    return {
      status: 202,
      headers: { Location: location, 'Retry-After': String(retryAfterSeconds(record)) },
      jsonBody: { ...statusView(record), statusUrl: location },
    };
  };
}
