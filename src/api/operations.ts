// The HTTP API's operations as its description tells them: each function's method, route and auth level (as its
// file in src/functions/ registers it; a test keeps the two equal), the app roles it takes, and what it answers.
// The OpenAPI documents (openapi.ts) and the custom connector are generated from this list.
import { OPERATION_ROLES } from '../callers/caller-policy';
import { ROUTES } from './routes';

export interface ResponseSpec {
  description: string;
  /** A component schema name for a JSON body; problem responses use the Problem schema. */
  body?: string;
  problem?: boolean;
  headers?: readonly ResponseHeader[];
}

export type ResponseHeader = 'Location' | 'Retry-After' | 'WebHook-Allowed-Origin' | 'WebHook-Allowed-Rate';
/** Request headers an operation reads, described in the API documents. */
export type RequestHeader =
  | 'Idempotency-Key'
  | 'webhook-id'
  | 'webhook-timestamp'
  | 'webhook-signature'
  | 'X-Hub-Signature-256'
  | 'aeg-event-type'
  | 'WebHook-Request-Origin';

export interface ApiOperation {
  /** The name of the function that serves it. */
  operationId: string;
  method: 'GET' | 'POST' | 'OPTIONS';
  route: string;
  /** admin: the host's master key only (diagnostics). */
  authLevel: 'anonymous' | 'function' | 'admin';
  /** The app roles an Entra token needs for it, any one of them (the handler checks them; the description names them). */
  appRoles?: readonly string[];
  summary: string;
  description?: string;
  /** Component schema of the JSON request body. */
  requestBody?: string;
  headers?: readonly RequestHeader[];
  /** The request may be signed instead (signed hooks, MAIL_HOOKS). */
  signatures?: boolean;
  /** How prominently a connector (Power Platform) shows the operation. */
  visibility?: 'important' | 'advanced' | 'internal';
  responses: Readonly<Record<number, ResponseSpec>>;
}

export const API_OPERATIONS: readonly ApiOperation[] = [
  {
    operationId: 'sendMail',
    method: 'POST',
    route: ROUTES.mail,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.send,
    summary: 'Queue a mail for sending; follow the returned Location for its outcome.',
    requestBody: 'MailRequest',
    responses: {
      202: {
        description: 'Accepted and queued (or a repeat of an accepted Idempotency-Key).',
        body: 'AcceptedMail',
        headers: ['Location', 'Retry-After'],
      },
      400: { description: 'Invalid request; errors lists every bad field.', problem: true },
      403: {
        description: 'The caller may not send this: the sender, a recipient domain or the app role; detail says what it may use.',
        problem: true,
      },
      413: { description: 'Body or message over the configured limit.', problem: true },
      415: { description: 'Body is not application/json.', problem: true },
      422: { description: 'The Idempotency-Key was used for a different mail.', problem: true },
      429: {
        description: "The caller's daily quota is used up; Retry-After says when it renews.",
        problem: true,
        headers: ['Retry-After'],
      },
      503: { description: 'Storage unavailable; send the request again (with the same Idempotency-Key).', problem: true },
    },
  },
  {
    operationId: 'getMailStatus',
    method: 'GET',
    route: ROUTES.mailStatus,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.readStatus,
    summary: 'The outcome of a mail (Logic Apps asynchronous pattern).',
    responses: {
      200: { description: 'Sent.', body: 'MailStatus' },
      202: {
        description: 'Still queued, sending or deferred; poll Location after Retry-After seconds.',
        body: 'MailStatus',
        headers: ['Location', 'Retry-After'],
      },
      404: { description: 'No message with this id.', problem: true },
      422: {
        description: 'Failed, or bounced for every recipient after it was sent; detail says what to do, mail holds the status record.',
        problem: true,
      },
    },
  },
  {
    operationId: 'openApi',
    method: 'GET',
    route: ROUTES.openApi,
    authLevel: 'anonymous',
    summary: 'This API description (OpenAPI 3.1).',
    responses: { 200: { description: 'The OpenAPI document.' } },
  },
  {
    operationId: 'swagger',
    method: 'GET',
    route: ROUTES.swagger,
    authLevel: 'anonymous',
    summary: 'This API description (OpenAPI 2.0) for custom connectors.',
    visibility: 'internal',
    responses: { 200: { description: 'The OpenAPI 2.0 document.' } },
  },
  {
    operationId: 'runDoctor',
    method: 'GET',
    route: ROUTES.doctor,
    authLevel: 'admin',
    summary: "Checks this deployment's setup from inside the app.",
    visibility: 'internal',
    responses: {
      200: { description: 'Every check passed; the report lists them.' },
      503: { description: 'A check failed; the report says which and the step that fixes it.' },
    },
  },
  {
    operationId: 'postHook',
    method: 'POST',
    route: ROUTES.hook,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.hook,
    summary: 'Send mail from a webhook payload, rendered by a template',
    description:
      "Renders the named template against any JSON payload (an Azure Monitor alert, Event Grid events, a service's own webhook) and queues the mail(s) as POST /api/mail does. " +
      'Authenticated as a caller (key or Entra token), or by signature for hooks listed in MAIL_HOOKS (Standard Webhooks, GitHub). Answers the Event Grid subscription validation handshake for Event Grid templates.',
    requestBody: 'HookPayload',
    headers: ['Idempotency-Key', 'webhook-id', 'webhook-timestamp', 'webhook-signature', 'X-Hub-Signature-256', 'aeg-event-type'],
    signatures: true,
    visibility: 'advanced',
    responses: {
      200: { description: 'Event Grid subscription validation: the validation code, echoed.', body: 'EventGridValidationResponse' },
      202: {
        description: 'Accepted and queued, one entry per mail; Location and Retry-After when there is exactly one mail.',
        body: 'HookAccepted',
        headers: ['Location', 'Retry-After'],
      },
      400: {
        description:
          'Invalid payload: not JSON, not the events an Event Grid template takes, a field the template needs is missing (errors names it), a rendered mail is invalid, or an Event Grid subscription to a template that takes none.',
        problem: true,
      },
      401: {
        description:
          'No valid credential: a function or caller key, an Entra access token, or for a signed hook a valid, unexpired signature.',
        problem: true,
      },
      403: {
        description: 'The caller (or signed hook) may not send this mail: the sender, a recipient domain or the app role.',
        problem: true,
      },
      404: { description: 'No template of this name.', problem: true },
      413: {
        description:
          'Payload over MAIL_HOOK_MAX_BYTES, a rendered message over the message limit, or more events than one delivery may turn into mails.',
        problem: true,
      },
      415: { description: 'Payload is not JSON (application/json or a +json type).', problem: true },
      422: {
        description:
          'The template could not be rendered within its limits, or the delivery repeats an idempotency key with a different mail.',
        problem: true,
      },
      429: {
        description: "The caller's daily quota is used up; Retry-After says when it renews.",
        problem: true,
        headers: ['Retry-After'],
      },
      500: { description: 'The template is invalid (the log says why).', problem: true },
      503: {
        description: 'Storage or the template container unavailable; deliver again (mails already queued are not sent twice).',
        problem: true,
      },
    },
  },
  {
    operationId: 'hookOptions',
    method: 'OPTIONS',
    route: ROUTES.hook,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.hook,
    summary: 'CloudEvents webhook validation (abuse protection) for an Event Grid template',
    headers: ['WebHook-Request-Origin'],
    visibility: 'internal',
    responses: {
      200: {
        description: 'The origin may deliver: WebHook-Allowed-Origin names it.',
        headers: ['WebHook-Allowed-Origin', 'WebHook-Allowed-Rate'],
      },
      400: { description: 'No WebHook-Request-Origin, or the template takes no Event Grid events (or is signed).', problem: true },
      403: { description: 'The origin is not one the template allows, or the caller is not one of this API.', problem: true },
      404: { description: 'No template of this name.', problem: true },
      503: { description: 'The template container is unavailable.', problem: true },
    },
  },
];
