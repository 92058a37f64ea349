// The app's functions, once: name, trigger, route, method, auth level, handler factory and, for HTTP functions,
// what the API description says about them. The registrations in src/functions/, the local host and the OpenAPI
// document are all derived from this table.
import type { HttpFunctionOptions, HttpHandler, StorageQueueFunctionOptions, StorageQueueHandler } from '@azure/functions';
import type { Runtime } from '../runtime';
import { STORAGE_CONNECTION } from '../settings';
import { appAuthenticatesCallers, appVerifiesHookSignatures, ConfigError, type MailConfig } from '../config';
import { loadRuntimeModule } from '../shared-runtime';
import { ROUTES } from './routes';
import { OPERATION_ROLES } from '../callers/caller-policy';

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

export interface OperationSpec {
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

export interface HttpFunctionSpec {
  name: string;
  trigger: 'http';
  method: 'GET' | 'POST' | 'OPTIONS';
  route: string;
  /** admin: the host's master key only (diagnostics). */
  authLevel: 'anonymous' | 'function' | 'admin';
  /** The app roles an Entra token needs for it, any one of them (the handler checks them; the description names them). */
  appRoles?: readonly string[];
  /** Whether the app checks this function's requests itself even without MAIL_CALLERS (signed hooks). */
  appAuthenticates?: () => boolean;
  handler: (runtime: () => Runtime) => HttpHandler;
  operation: OperationSpec;
}

export interface QueueFunctionSpec {
  name: string;
  trigger: 'queue';
  /** An app setting reference, resolved by the host: the queue is configurable. */
  queueName: '%MAIL_QUEUE_NAME%' | '%MAIL_CALLBACK_QUEUE_NAME%';
  connection: typeof STORAGE_CONNECTION;
  handler: (runtime: () => Runtime) => StorageQueueHandler;
}

/**
 * Handlers whose module, with the runtime and the SDKs behind them, is imported at the first invocation instead of
 * when the host loads the app: the host indexes the functions in a fraction of the time, and what only one function
 * uses (the hooks' template engine, the doctor, the API documents) loads only in an instance that runs it.
 */
function lazyHttp(load: () => Promise<(runtime: () => Runtime) => HttpHandler>): (runtime: () => Runtime) => HttpHandler {
  return (runtime) => {
    const handler = loadOnce(load, runtime);
    return async (request, context) => (await handler())(request, context);
  };
}

function lazyQueue(load: () => Promise<(runtime: () => Runtime) => StorageQueueHandler>): (runtime: () => Runtime) => StorageQueueHandler {
  return (runtime) => {
    const handler = loadOnce(load, runtime);
    return async (entry, context) => (await handler())(entry, context);
  };
}

function loadOnce<H>(load: () => Promise<(runtime: () => Runtime) => H>, runtime: () => Runtime): () => Promise<H> {
  let ready: Promise<H> | undefined;
  return () =>
    (ready ??= Promise.all([load(), loadRuntimeModule()])
      .then(([create]) => create(runtime))
      .catch((error: unknown) => {
        // A failed import is tried again at the next invocation rather than remembered.
        ready = undefined;
        throw error;
      }));
}

export const FUNCTIONS = {
  sendMail: {
    name: 'sendMail',
    trigger: 'http',
    method: 'POST',
    route: ROUTES.mail,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.send,
    handler: lazyHttp(() => import('../handlers/send-mail.js').then((m) => m.createSendMailHandler)),
    operation: {
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
  },
  getMailStatus: {
    name: 'getMailStatus',
    trigger: 'http',
    method: 'GET',
    route: ROUTES.mailStatus,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.readStatus,
    handler: lazyHttp(() => import('../handlers/get-mail-status.js').then((m) => m.createGetMailStatusHandler)),
    operation: {
      summary: 'The outcome of a mail (Logic Apps asynchronous pattern).',
      responses: {
        200: { description: 'Sent.', body: 'MailStatus' },
        202: {
          description: 'Still queued, sending or deferred; poll Location after Retry-After seconds.',
          body: 'MailStatus',
          headers: ['Location', 'Retry-After'],
        },
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
    handler: lazyHttp(async () => {
      const [{ createOpenApiHandler }, { openApiDocument }] = await Promise.all([
        import('../handlers/open-api.js'),
        import('./openapi.js'),
      ]);
      return () => createOpenApiHandler(() => openApiDocument(httpFunctions()));
    }),
    operation: { summary: 'This API description (OpenAPI 3.1).', responses: { 200: { description: 'The OpenAPI document.' } } },
  },
  swagger: {
    name: 'swagger',
    trigger: 'http',
    method: 'GET',
    route: ROUTES.swagger,
    authLevel: 'anonymous',
    handler: lazyHttp(async () => {
      const [{ createOpenApiHandler }, { swaggerDocument }] = await Promise.all([
        import('../handlers/open-api.js'),
        import('./openapi.js'),
      ]);
      return (runtime) => createOpenApiHandler(() => swaggerDocument(httpFunctions(), { baseUrl: publicBaseUrlOf(runtime) }));
    }),
    operation: {
      summary: 'This API description (OpenAPI 2.0) for custom connectors.',
      visibility: 'internal',
      responses: { 200: { description: 'The OpenAPI 2.0 document.' } },
    },
  },
  runDoctor: {
    name: 'runDoctor',
    trigger: 'http',
    method: 'GET',
    route: ROUTES.doctor,
    authLevel: 'admin',
    handler: lazyHttp(async () => {
      const [{ createDoctorHandler }, { appDoctorDeps }] = await Promise.all([
        import('../handlers/doctor.js'),
        import('../doctor/defaults.js'),
      ]);
      return (runtime) => createDoctorHandler(() => appDoctorDeps(appSettings(runtime)));
    }),
    operation: {
      summary: "Checks this deployment's setup from inside the app.",
      visibility: 'internal',
      responses: {
        200: { description: 'Every check passed; the report lists them.' },
        503: { description: 'A check failed; the report says which and the step that fixes it.' },
      },
    },
  },
  postHook: {
    name: 'postHook',
    trigger: 'http',
    method: 'POST',
    route: ROUTES.hook,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.hook,
    appAuthenticates: () => appVerifiesHookSignatures(),
    handler: lazyHttp(() => import('../handlers/post-hook.js').then((m) => m.createPostHookHandler)),
    operation: {
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
  },
  hookOptions: {
    name: 'hookOptions',
    trigger: 'http',
    method: 'OPTIONS',
    route: ROUTES.hook,
    authLevel: 'function',
    appRoles: OPERATION_ROLES.hook,
    appAuthenticates: () => appVerifiesHookSignatures(),
    handler: lazyHttp(() => import('../handlers/hook-options.js').then((m) => m.createHookOptionsHandler)),
    operation: {
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
  },
  processOutbox: {
    name: 'processOutbox',
    trigger: 'queue',
    queueName: '%MAIL_QUEUE_NAME%',
    connection: STORAGE_CONNECTION,
    handler: lazyQueue(() => import('../handlers/process-outbox.js').then((m) => m.createProcessOutboxHandler)),
  },
  deliverCallback: {
    name: 'deliverCallback',
    trigger: 'queue',
    queueName: '%MAIL_CALLBACK_QUEUE_NAME%',
    connection: STORAGE_CONNECTION,
    handler: lazyQueue(() => import('../handlers/deliver-callback.js').then((m) => m.createDeliverCallbackHandler)),
  },
} as const satisfies Record<string, HttpFunctionSpec | QueueFunctionSpec>;

export function httpFunctions(): HttpFunctionSpec[] {
  return Object.values(FUNCTIONS).filter(
    (spec): spec is (typeof FUNCTIONS)[keyof typeof FUNCTIONS] & HttpFunctionSpec => spec.trigger === 'http',
  );
}

export function queueFunctions(): QueueFunctionSpec[] {
  return Object.values(FUNCTIONS).filter(
    (spec): spec is (typeof FUNCTIONS)[keyof typeof FUNCTIONS] & QueueFunctionSpec => spec.trigger === 'queue',
  );
}

/**
 * What app.http takes for a function of the table. With a caller policy (MAIL_CALLERS) the app authenticates each
 * caller itself (Entra tokens, caller keys), so the host must let the request through: it cannot tell the app
 * which function key was used, and an Entra caller has none.
 */
export function httpOptions(
  spec: HttpFunctionSpec,
  runtime: () => Runtime,
  appAuthenticates = appAuthenticatesCallers(),
): HttpFunctionOptions {
  const appChecks = appAuthenticates || (spec.appAuthenticates?.() ?? false);
  const authLevel = spec.authLevel === 'function' && appChecks ? 'anonymous' : spec.authLevel;
  return { methods: [spec.method], route: spec.route, authLevel, handler: spec.handler(runtime) };
}

/** The queue a queue function reads, as the host resolves its %SETTING% from the app settings. */
export function queueNameOf(spec: QueueFunctionSpec, config: Pick<MailConfig, 'queueName' | 'callbacks'>): string {
  return spec.queueName === '%MAIL_CALLBACK_QUEUE_NAME%' ? config.callbacks.queueName : config.queueName;
}

/** What app.storageQueue takes for a function of the table. */
export function queueOptions(spec: QueueFunctionSpec, runtime: () => Runtime): StorageQueueFunctionOptions {
  return { queueName: spec.queueName, connection: spec.connection, handler: spec.handler(runtime) };
}

/**
 * The settings the app runs with, for the doctor: the runtime's own (the sandbox builds it from more than the
 * environment), or the environment when settings the doctor is there to report keep the runtime from being built.
 */
function appSettings(runtime: () => Runtime): Record<string, string | undefined> {
  try {
    return runtime().settings;
  } catch (error) {
    if (error instanceof ConfigError) return process.env;
    throw error;
  }
}

/** Where the app is reached, for the served OpenAPI 2.0 host; unknown (no host) when the settings do not load. */
function publicBaseUrlOf(runtime: () => Runtime): string | undefined {
  try {
    return runtime().config.publicBaseUrl;
  } catch {
    return undefined;
  }
}
