// The app's functions, once: name, trigger, route, method, auth level, handler factory and, for HTTP functions,
// what the API description says about them. The registrations in src/functions/, the local host and the OpenAPI
// document are all derived from this table.
import type { HttpFunctionOptions, HttpHandler, StorageQueueFunctionOptions, StorageQueueHandler } from '@azure/functions';
import type { Runtime } from '../runtime';
import { STORAGE_CONNECTION } from '../settings';
import { appAuthenticatesCallers } from '../config';
import { createSendMailHandler } from '../handlers/send-mail';
import { createGetMailStatusHandler } from '../handlers/get-mail-status';
import { createOpenApiHandler } from '../handlers/open-api';
import { createProcessOutboxHandler } from '../handlers/process-outbox';
import { openApiDocument } from './openapi';
import { ROUTES } from './routes';

export interface ResponseSpec {
  description: string;
  /** A component schema name for a JSON body; problem responses use the Problem schema. */
  body?: string;
  problem?: boolean;
  headers?: readonly ('Location' | 'Retry-After')[];
}

export interface OperationSpec {
  summary: string;
  /** Component schema of the JSON request body. */
  requestBody?: string;
  responses: Readonly<Record<number, ResponseSpec>>;
}

export interface HttpFunctionSpec {
  name: string;
  trigger: 'http';
  method: 'GET' | 'POST';
  route: string;
  authLevel: 'anonymous' | 'function';
  handler: (runtime: () => Runtime) => HttpHandler;
  operation: OperationSpec;
}

export interface QueueFunctionSpec {
  name: string;
  trigger: 'queue';
  /** An app setting reference, resolved by the host: the queue is configurable. */
  queueName: '%MAIL_QUEUE_NAME%';
  connection: typeof STORAGE_CONNECTION;
  handler: (runtime: () => Runtime) => StorageQueueHandler;
}

export const FUNCTIONS = {
  sendMail: {
    name: 'sendMail',
    trigger: 'http',
    method: 'POST',
    route: ROUTES.mail,
    authLevel: 'function',
    handler: createSendMailHandler,
    operation: {
      summary: 'Queue a mail for sending; follow the returned Location for its outcome.',
      requestBody: 'MailRequest',
      responses: {
        202: { description: 'Accepted and queued (or a repeat of an accepted Idempotency-Key).', body: 'AcceptedMail', headers: ['Location', 'Retry-After'] },
        400: { description: 'Invalid request; errors lists every bad field.', problem: true },
        403: { description: 'The caller may not send this: the sender, a recipient domain or the app role; detail says what it may use.', problem: true },
        413: { description: 'Body or message over the configured limit.', problem: true },
        415: { description: 'Body is not application/json.', problem: true },
        422: { description: 'The Idempotency-Key was used for a different mail.', problem: true },
        429: { description: "The caller's daily quota is used up; Retry-After says when it renews.", problem: true, headers: ['Retry-After'] },
        503: { description: 'Storage unavailable; send the request again (with the same Idempotency-Key).', problem: true },
      },
    },
  },
  getMailStatus: {
    name: 'getMailStatus',
    trigger: 'http',
    method: 'GET',
    route: ROUTES.mailStatus,
    authLevel: 'function',
    handler: createGetMailStatusHandler,
    operation: {
      summary: 'The outcome of a mail (Logic Apps asynchronous pattern).',
      responses: {
        200: { description: 'Sent.', body: 'MailStatus' },
        202: { description: 'Still queued, sending or deferred; poll Location after Retry-After seconds.', body: 'MailStatus', headers: ['Location', 'Retry-After'] },
        404: { description: 'No message with this id.', problem: true },
        422: { description: 'Failed; detail says what to do, mail holds the status record.', problem: true },
      },
    },
  },
  openApi: {
    name: 'openApi',
    trigger: 'http',
    method: 'GET',
    route: ROUTES.openApi,
    authLevel: 'anonymous',
    handler: () => createOpenApiHandler(() => openApiDocument(httpFunctions())),
    operation: { summary: 'This API description (OpenAPI 3.1).', responses: { 200: { description: 'The OpenAPI document.' } } },
  },
  processOutbox: {
    name: 'processOutbox',
    trigger: 'queue',
    queueName: '%MAIL_QUEUE_NAME%',
    connection: STORAGE_CONNECTION,
    handler: createProcessOutboxHandler,
  },
} as const satisfies Record<string, HttpFunctionSpec | QueueFunctionSpec>;

export function httpFunctions(): HttpFunctionSpec[] {
  return Object.values(FUNCTIONS).filter((spec): spec is (typeof FUNCTIONS)[keyof typeof FUNCTIONS] & HttpFunctionSpec => spec.trigger === 'http');
}

export function queueFunctions(): QueueFunctionSpec[] {
  return Object.values(FUNCTIONS).filter((spec): spec is (typeof FUNCTIONS)[keyof typeof FUNCTIONS] & QueueFunctionSpec => spec.trigger === 'queue');
}

/**
 * What app.http takes for a function of the table. With a caller policy (MAIL_CALLERS) the app authenticates each
 * caller itself (Entra tokens, caller keys), so the host must let the request through: it cannot tell the app
 * which function key was used, and an Entra caller has none.
 */
export function httpOptions(spec: HttpFunctionSpec, runtime: () => Runtime, appAuthenticates = appAuthenticatesCallers()): HttpFunctionOptions {
  const authLevel = spec.authLevel === 'function' && appAuthenticates ? 'anonymous' : spec.authLevel;
  return { methods: [spec.method], route: spec.route, authLevel, handler: spec.handler(runtime) };
}

/** What app.storageQueue takes for a function of the table. */
export function queueOptions(spec: QueueFunctionSpec, runtime: () => Runtime): StorageQueueFunctionOptions {
  return { queueName: spec.queueName, connection: spec.connection, handler: spec.handler(runtime) };
}
