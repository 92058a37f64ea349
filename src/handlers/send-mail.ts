// POST /api/mail: validate, enqueue, answer 202 with the id and where to follow it.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { acceptMail, maxRequestBytes } from '../intake/accept-mail';
import type { Runtime } from '../runtime';
import { problem } from './http-problem';

export function createSendMailHandler(runtime: () => Runtime) {
  return async function sendMail(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const { config, outbox } = runtime();
    const declared = Number(request.headers.get('content-length') ?? 0);
    const limit = maxRequestBytes(config.maxMessageBytes);
    if (declared > limit) return problem(413, 'Request too large', `The body is ${declared} bytes; the limit is ${limit}.`);

    const body = Buffer.from(await request.arrayBuffer());
    const result = await acceptMail({ contentType: request.headers.get('content-type'), body }, { config, enqueue: outbox.enqueue });
    if (result.status !== 202) {
      context.warn(`Rejected mail request (${result.status}): ${result.errors?.map((e) => `${e.field}: ${e.detail}`).join('; ') ?? result.detail}`);
      return problem(result.status, result.title, result.detail, result.errors);
    }
    const { id } = result.envelope;
    const location = statusUrl(request, id);
    context.log(`Accepted message ${id}`);
    return {
      status: 202,
      headers: { Location: location },
      jsonBody: { id, status: 'queued', statusUrl: location },
    };
  };
}

/** The status URL of a message, keeping a function key passed as ?code= so pollers can follow it. */
export function statusUrl(request: HttpRequest, id: string): string {
  const url = new URL(request.url);
  const target = new URL(`${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(id)}`, url.origin);
  const code = url.searchParams.get('code');
  if (code) target.searchParams.set('code', code);
  return target.toString();
}
