import type { HttpResponseInit } from '@azure/functions';
import type { FieldError } from '../validation/field-errors';

/** An RFC 9457 problem details response. */
export function problem(status: number, title: string, detail: string, errors?: FieldError[]): HttpResponseInit {
  return {
    status,
    headers: { 'Content-Type': 'application/problem+json' },
    body: JSON.stringify({
      type: `urn:mail-sender:problem:${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
      title,
      status,
      detail,
      ...(errors ? { errors } : {}),
    }),
  };
}
