// The rules for the request headers every entry point reads, written once: the JSON media type of a body and the
// Idempotency-Key (also the rule for a Standard Webhooks webhook-id, the sender's idempotency key).
import type { FieldError } from '../validation/field-errors';

/** application/json, or a structured-syntax suffix of it (RFC 6839) such as application/vnd.contoso.mail+json. */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9][\w.-]*\+)?json$/;

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The media type of a Content-Type value, lowercase, without parameters; '' when there is none. */
export function mediaTypeOf(contentType: string | null | undefined): string {
  return contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Whether a Content-Type names JSON (parameters such as charset are allowed). */
export function isJsonContentType(contentType: string | null | undefined): boolean {
  return JSON_MEDIA_TYPE.test(mediaTypeOf(contentType));
}

/** 1-255 visible ASCII characters: an Idempotency-Key, or a webhook-id. */
export function isIdempotencyKey(value: string): boolean {
  return IDEMPOTENCY_KEY.test(value);
}

export const IDEMPOTENCY_KEY_ERROR: FieldError = { field: 'Idempotency-Key', detail: '1-255 visible ASCII characters' };
