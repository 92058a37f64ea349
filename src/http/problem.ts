// The one mapping from a refusal to an HTTP answer: RFC 9457 problem details, with Retry-After when the refusal says
// when to come back. Every handler and the hook path answer through it.
import type { HttpResponseInit } from '@azure/functions';
import type { FieldError } from '../validation/field-errors';

/** A request refused: what the intake, the renderer and the hook path return, and what a problem response says. */
export interface Refusal {
  status: number;
  title: string;
  detail: string;
  errors?: FieldError[];
  retryAfterSeconds?: number;
}

/** An RFC 9457 problem details response; `extensions` are further members (e.g. the failed mail's status). */
export function problem(
  status: number,
  title: string,
  detail: string | undefined,
  errors?: FieldError[],
  extensions?: Record<string, unknown>,
): HttpResponseInit {
  return {
    status,
    headers: { 'Content-Type': 'application/problem+json' },
    body: JSON.stringify({
      type: `urn:mail-sender:problem:${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
      title,
      status,
      detail,
      ...(errors ? { errors } : {}),
      ...extensions,
    }),
  };
}

/** The problem response of a refusal, with Retry-After when it names a time. */
export function refusalResponse({ status, title, detail, errors, retryAfterSeconds }: Refusal): HttpResponseInit {
  const response = problem(status, title, detail, errors);
  return retryAfterSeconds ? withRetryAfter(response, retryAfterSeconds) : response;
}

export function withRetryAfter(response: HttpResponseInit, seconds: number): HttpResponseInit {
  return { ...response, headers: { ...(response.headers as Record<string, string>), 'Retry-After': String(seconds) } };
}
