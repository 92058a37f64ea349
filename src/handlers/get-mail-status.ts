// GET /api/mail/{id}: the Logic Apps asynchronous pattern. Pending → 202 with Location and Retry-After;
// sent → 200; failed, or bounced after it was sent, → 422 with the reason, so a polling HTTP action fails visibly
// instead of succeeding.
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { messageIdSchema } from '../mail/envelope';
import { retryAfterSeconds, statusView } from '../status/status-view';
import type { MailConfig } from '../config/load-config';
import type { StatusStore } from '../status/status-store';
import { problem } from '../http/problem';
import { statusUrl } from './status-url';
import { callerOf, type Authenticate } from './caller';
import { principalOf } from '../callers/authenticate';

export interface GetMailStatusDeps {
  config: Pick<MailConfig, 'publicBaseUrl'>;
  status: Pick<StatusStore, 'get'>;
  authenticate: Authenticate;
}

export function createGetMailStatusHandler(deps: () => GetMailStatusDeps) {
  return async function getMailStatus(request: HttpRequest): Promise<HttpResponseInit> {
    const { config, status, authenticate } = deps();
    const caller = await callerOf(authenticate, request, 'readStatus');
    if (!caller.ok) return caller.response;
    const id = request.params.id ?? '';
    if (!messageIdSchema.safeParse(id).success) return problem(404, 'Unknown message', `No message has the id "${id.slice(0, 100)}".`);
    const stored = await status.get(id);
    // Another caller's message is answered exactly like a missing one: its existence is not ours to tell.
    if (!stored || (!caller.value.caller.readAllStatus && stored.record.caller !== principalOf(caller.value)))
      return problem(404, 'Unknown message', `No message has the id ${id}.`);
    const { record } = stored;
    const view = statusView(record);
    if (record.status === 'sent') return { status: 200, jsonBody: view };
    if (record.status === 'failed' || record.status === 'bounced') {
      const title = record.status === 'bounced' ? 'Bounced' : 'Delivery failed';
      return problem(422, title, record.hint ?? record.errorCategory, undefined, { mail: view });
    }
    return {
      status: 202,
      headers: { Location: statusUrl(config.publicBaseUrl, request, id), 'Retry-After': String(retryAfterSeconds(record)) },
      jsonBody: view,
    };
  };
}
