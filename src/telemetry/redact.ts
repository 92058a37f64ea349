// What logs and telemetry may say: no key, token, signature or secret from a URL or a header, and mail addresses only
// by their domain unless the operator chose otherwise (MAIL_LOG_ADDRESSES). The processors apply it to every span and
// log record the OpenTelemetry SDK exports, whichever instrumentation made them; redactAddresses also serves the
// app's own log lines, which reach the Functions host's logs without passing through the SDK.
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { LogRecordProcessor, SdkLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';

export const REDACTED = 'REDACTED';

// A query string up to where a URL ends in running text; "?" followed by a space (a question) has none to redact.
const QUERY = /\?([^\s#"'<>]+)/g;
// user:password@ in a URL's authority.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;
const BEARER = /\b(Bearer|Basic|SharedKey|SharedAccessSignature)\s+[^\s,;]+/gi;
// Three base64url parts: a JWT (access token, client assertion) wherever it turns up.
const JWT = /\beyJ[\w-]+\.[\w-]+\.[\w-]*/g;
// Header attributes (http.request.header.<name>) whose value is a credential.
const CREDENTIAL_HEADER = /^https?\.(request|response)\.header\.(.*(authorization|cookie|key|token|secret|signature|sig).*)$/i;
// Attributes that hold a query string without its "?".
const QUERY_ATTRIBUTES = new Set(['url.query', 'http.query']);
const ADDRESS =
  /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)/g;

/** Every parameter of a query string kept by name, its value replaced: names help a diagnosis, values may be keys. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair === '' ? pair : REDACTED;
      return `${pair.slice(0, eq)}=${REDACTED}`;
    })
    .join('&');
}

/** Query values, URL credentials, bearer and other authorization values, and JWTs in a text, replaced by REDACTED. */
export function redactSecrets(text: string): string {
  return text
    .replace(USERINFO, `$1${REDACTED}@`)
    .replace(QUERY, (_, query: string) => `?${redactQuery(query)}`)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(JWT, REDACTED);
}

/** Mail addresses in a text shown by their domain only: `***@contoso.com`. */
export function redactAddresses(text: string): string {
  return text.replace(ADDRESS, '***@$1');
}

/** What one log line or attribute may say: secrets never, addresses in full only when the operator allows it. */
export function redactText(text: string, keepAddresses: boolean): string {
  const safe = redactSecrets(text);
  return keepAddresses ? safe : redactAddresses(safe);
}

function redactValue(key: string, value: AttributeValue, keepAddresses: boolean): AttributeValue {
  if (CREDENTIAL_HEADER.test(key)) return REDACTED;
  if (typeof value === 'string') return QUERY_ATTRIBUTES.has(key) ? redactQuery(value) : redactText(value, keepAddresses);
  if (Array.isArray(value))
    return value.map((item: unknown) => (typeof item === 'string' ? redactText(item, keepAddresses) : item)) as AttributeValue;
  return value;
}

/** Redacts attributes in place: the SDK hands processors its own objects, and the exporter reads them afterwards. */
export function redactAttributes(attributes: Attributes, keepAddresses: boolean): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) attributes[key] = redactValue(key, value, keepAddresses);
  }
}

/**
 * Runs before the exporter's batch processor (useAzureMonitor puts the app's processors ahead of it), so the exported
 * span is the redacted one. Attributes, event attributes and the status message are rewritten when the span ends,
 * which covers what an instrumentation set at any point of the span's life.
 */
export class RedactingSpanProcessor implements SpanProcessor {
  constructor(private readonly keepAddresses: boolean) {}

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    redactAttributes(span.attributes, this.keepAddresses);
    for (const event of span.events) if (event.attributes) redactAttributes(event.attributes, this.keepAddresses);
    const status = span.status as { message?: string };
    if (status.message) status.message = redactText(status.message, this.keepAddresses);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The same for log records: the body (a log line) and the attributes, before the exporter's batch processor takes them. */
export class RedactingLogRecordProcessor implements LogRecordProcessor {
  constructor(private readonly keepAddresses: boolean) {}

  onEmit(record: SdkLogRecord): void {
    if (typeof record.body === 'string') record.setBody(redactText(record.body, this.keepAddresses));
    for (const [key, value] of Object.entries(record.attributes)) {
      if (typeof value === 'string' || Array.isArray(value))
        record.setAttribute(key, redactValue(key, value as AttributeValue, this.keepAddresses));
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
