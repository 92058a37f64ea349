// The API descriptions, generated from the same schemas that validate requests and queue messages, and from the
// API's operations (operations.ts) for paths, methods, auth and every response status: OpenAPI 3.1 (GET /api/openapi.json), and
// OpenAPI 2.0 (GET /api/swagger.json), the version Logic Apps and Power Automate custom connectors import.
import { z } from 'zod';
import { addressSchema, mailRequestSchema } from '../mail/mail-request';
import { envelopeSchema } from '../mail/envelope';
import { statusViewSchema } from '../status/status-view';
import { toSwaggerSchema } from './swagger-schema';
import { API_OPERATIONS, type ApiOperation, type RequestHeader, type ResponseHeader, type ResponseSpec } from './operations';
import { routeTemplate } from './routes';

const TITLE = 'Exchange Online SMTP mail sender';

const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details.',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, detail: { type: 'string' } } } },
  },
};

const acceptedSchema = {
  allOf: [
    { $ref: '#/components/schemas/MailStatus' },
    { type: 'object', properties: { statusUrl: { type: 'string', description: 'Where to poll; also in Location.' } } },
  ],
};

const hookSchemas = {
  HookPayload: {
    type: 'object',
    description: "Any JSON: the webhook's own payload (for Event Grid templates, the events), rendered by the template.",
  },
  HookAccepted: {
    type: 'object',
    description: 'The mails a delivery became, each with its status URL.',
    properties: { mails: { type: 'array', items: { $ref: '#/components/schemas/AcceptedMail' } } },
    required: ['mails'],
  },
  EventGridValidationResponse: {
    type: 'object',
    description: 'Answer to the Event Grid subscription validation handshake.',
    properties: { validationResponse: { type: 'string', description: 'The validationCode of the validation event.' } },
    required: ['validationResponse'],
  },
};

const responseHeaders: Record<ResponseHeader, { description: string; type: 'string' | 'integer' }> = {
  Location: { description: 'Status URL of the message.', type: 'string' },
  'Retry-After': { description: 'Seconds to wait before polling.', type: 'integer' },
  'WebHook-Allowed-Origin': { description: 'The origin allowed to deliver (CloudEvents webhook validation).', type: 'string' },
  'WebHook-Allowed-Rate': { description: 'Deliveries per minute allowed; * for no limit.', type: 'string' },
};

const requestHeaders: Record<RequestHeader, string> = {
  'Idempotency-Key': 'Makes retries safe: the same key with the same mail sends it once.',
  'webhook-id': 'Standard Webhooks: the message id (signed hooks); a repeat of an id sends nothing again.',
  'webhook-timestamp': 'Standard Webhooks: Unix seconds; at most 5 minutes from now.',
  'webhook-signature': 'Standard Webhooks: v1,<base64 HMAC-SHA256> of "<id>.<timestamp>.<body>", several space-separated.',
  'X-Hub-Signature-256': 'GitHub: sha256=<hex HMAC-SHA256 of the body>.',
  'aeg-event-type': 'Event Grid: SubscriptionValidation on the validation handshake, Notification otherwise.',
  'WebHook-Request-Origin': 'CloudEvents webhook validation: the origin asking to deliver (eventgrid.azure.net).',
};

const UNAUTHENTICATED =
  'No valid credential: a function or caller key (x-functions-key header or code query parameter), or an Entra access token.';
const NOT_A_CALLER =
  'Authenticated, but not a caller of this API (MAIL_CALLERS), or its Entra token lacks the app role the operation needs.';

/** Every status an operation answers, with the ones authentication adds. */
function responsesOf(op: ApiOperation): [string, ResponseSpec][] {
  const responses: Record<string, ResponseSpec> = { ...op.responses };
  if (op.authLevel === 'function') {
    responses['401'] ??= { description: UNAUTHENTICATED };
    responses['403'] ??= { description: NOT_A_CALLER, problem: true };
  }
  if (op.authLevel === 'admin') responses['401'] ??= { description: "No master key: the host's admin-level endpoints take only that." };
  return Object.entries(responses);
}

const pathParameters = (op: ApiOperation) => [...op.route.matchAll(/\{(\w+)\}/g)].map(([, name]) => name);

/** The schemas of requests, queue messages and status, once, as components named by the registry. */
function zodSchemas(target: 'draft-2020-12' | 'draft-4', prefix: string): Record<string, Record<string, unknown>> {
  // One registry so shared parts (Address, MailRequest) become components referenced by $ref.
  const registry = z.registry<{ id: string }>();
  registry
    .add(addressSchema, { id: 'Address' })
    .add(mailRequestSchema, { id: 'MailRequest' })
    .add(envelopeSchema, { id: 'OutboxEnvelope' })
    .add(statusViewSchema, { id: 'MailStatus' });
  return z.toJSONSchema(registry, { target, io: 'input', unrepresentable: 'any', uri: (id) => `${prefix}${id}` }).schemas;
}

function response31(spec: ResponseSpec): Record<string, unknown> {
  const schema = spec.problem ? 'Problem' : spec.body;
  return {
    description: spec.description,
    ...(spec.headers
      ? {
          headers: Object.fromEntries(
            spec.headers.map((name) => [
              name,
              { description: responseHeaders[name].description, schema: { type: responseHeaders[name].type } },
            ]),
          ),
        }
      : {}),
    ...(schema
      ? {
          content: {
            [spec.problem ? 'application/problem+json' : 'application/json']: { schema: { $ref: `#/components/schemas/${schema}` } },
          },
        }
      : {}),
  };
}

function security31(op: ApiOperation): Record<string, string[]>[] {
  if (op.authLevel === 'anonymous') return [];
  // The master key is presented the same way as a function key.
  if (op.authLevel === 'admin') return [{ functionKey: [] }];
  return [
    { functionKey: [] },
    { functionKeyQuery: [] },
    // For a scheme other than OAuth 2.0 the list names the roles the operation needs (OpenAPI 3.1, Security Requirement).
    { entraToken: [...(op.appRoles ?? [])] },
    ...(op.signatures ? [{ standardWebhooks: [] }, { githubSignature: [] }] : []),
  ];
}

function operation31(op: ApiOperation): Record<string, unknown> {
  const parameters = [
    ...pathParameters(op).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    ...(op.headers ?? []).map((name) => ({
      name,
      in: 'header',
      required: false,
      description: requestHeaders[name],
      schema: { type: 'string' },
    })),
  ];
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.requestBody
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: `#/components/schemas/${op.requestBody}` } } },
          },
        }
      : {}),
    responses: Object.fromEntries(responsesOf(op).map(([status, spec]) => [status, response31(spec)])),
    security: security31(op),
  };
}

export function openApiDocument(): Record<string, unknown> {
  const schemas = zodSchemas('draft-2020-12', '#/components/schemas/');
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of API_OPERATIONS) (paths[routeTemplate(op.route)] ??= {})[op.method.toLowerCase()] = operation31(op);
  return {
    openapi: '3.1.0',
    info: { title: TITLE, version: '1' },
    paths,
    components: {
      schemas: { ...schemas, Problem: problemSchema, AcceptedMail: acceptedSchema, ...hookSchemas },
      securitySchemes: {
        functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
        entraToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A Microsoft Entra access token for the API, with the app role Mail.Send to send.',
        },
        standardWebhooks: {
          type: 'apiKey',
          in: 'header',
          name: 'webhook-signature',
          description: 'Signed hooks (MAIL_HOOKS): Standard Webhooks signature, with webhook-id and webhook-timestamp.',
        },
        githubSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Hub-Signature-256',
          description: 'Signed hooks (MAIL_HOOKS): GitHub webhook signature.',
        },
      },
    },
  };
}

// Fields of the mail a connector's form shows under "advanced"; the rest are shown first.
const ADVANCED_FIELDS: Record<string, string> = {
  cc: 'advanced',
  bcc: 'advanced',
  replyTo: 'advanced',
  attachments: 'advanced',
  headers: 'advanced',
  importance: 'advanced',
  sendAt: 'advanced',
};

export interface SwaggerOptions {
  /** The app's public origin (MAIL_PUBLIC_BASE_URL, or from WEBSITE_HOSTNAME): host and scheme of the document. */
  baseUrl?: string;
}

/**
 * OpenAPI 2.0 for Power Platform custom connectors: one security definition (a function or caller key in
 * x-functions-key, which a connection stores), titles and visibility for the connector's forms, and the
 * asynchronous pattern as the responses state it: 202 with Location and Retry-After, which Logic Apps and Power
 * Automate follow until the status endpoint answers 200 (sent) or 422 (failed).
 */
export function swaggerDocument(options: SwaggerOptions = {}): Record<string, unknown> {
  const zod = zodSchemas('draft-4', '#/definitions/');
  const sources: Record<string, Record<string, unknown>> = {
    ...zod,
    Problem: problemSchema,
    AcceptedMail: { allOf: [{ $ref: '#/definitions/MailStatus' }, acceptedSchema.allOf[1]] },
    ...(JSON.parse(JSON.stringify(hookSchemas).replaceAll('#/components/schemas/', '#/definitions/')) as Record<
      string,
      Record<string, unknown>
    >),
  };
  const definitions = Object.fromEntries(
    Object.entries(sources).map(([name, schema]) => [
      name,
      toSwaggerSchema(schema, sources, name === 'MailRequest' ? ADVANCED_FIELDS : {}),
    ]),
  );
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of API_OPERATIONS) (paths[routeTemplate(op.route)] ??= {})[op.method.toLowerCase()] = operation20(op);
  const base = options.baseUrl ? new URL(options.baseUrl) : undefined;
  return {
    swagger: '2.0',
    info: {
      title: TITLE,
      version: '1',
      description:
        'Send email through Exchange Online over SMTP with OAuth2. Sending is asynchronous: a 202 answer carries a Location to poll, which Logic Apps and Power Automate follow until the mail is sent (200) or failed (422).',
    },
    ...(base ? { host: base.host } : {}),
    basePath: '/',
    schemes: [base?.protocol === 'http:' ? 'http' : 'https'],
    consumes: ['application/json'],
    produces: ['application/json'],
    paths,
    definitions,
    // One definition, as a custom connector takes; its connection parameter is api_key (connector/apiProperties.json).
    securityDefinitions: {
      api_key: { type: 'apiKey', in: 'header', name: 'x-functions-key', description: 'A function key, or a caller key of MAIL_CALLERS.' },
    },
    security: [{ api_key: [] }],
  };
}

function operation20(op: ApiOperation): Record<string, unknown> {
  const parameters = [
    ...pathParameters(op).map((name) => ({
      name,
      in: 'path',
      required: true,
      type: 'string',
      'x-ms-summary': name === 'template' ? 'Template' : name === 'id' ? 'Message ID' : name,
    })),
    ...(op.headers ?? []).map((name) => ({
      name,
      in: 'header',
      required: false,
      type: 'string',
      description: requestHeaders[name],
      'x-ms-summary': name,
      'x-ms-visibility': name === 'Idempotency-Key' ? 'advanced' : 'internal',
    })),
    ...(op.requestBody ? [{ name: 'body', in: 'body', required: true, schema: { $ref: `#/definitions/${op.requestBody}` } }] : []),
  ];
  const responses = Object.fromEntries(
    responsesOf(op).map(([status, spec]) => {
      const schema = spec.problem ? 'Problem' : spec.body;
      return [
        status,
        {
          description: spec.description,
          ...(schema ? { schema: { $ref: `#/definitions/${schema}` } } : {}),
          ...(spec.headers
            ? {
                headers: Object.fromEntries(
                  spec.headers.map((name) => [name, { type: responseHeaders[name].type, description: responseHeaders[name].description }]),
                ),
              }
            : {}),
        },
      ];
    }),
  );
  return {
    operationId: op.operationId,
    summary: op.summary,
    description: op.description ?? op.summary,
    ...(op.visibility ? { 'x-ms-visibility': op.visibility } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    responses,
    ...(op.authLevel === 'anonymous' ? { security: [] } : {}),
  };
}
