// The API description, generated from the same schemas that validate requests and queue messages, and from the
// function table for paths, methods, auth and every response status.
import { z } from 'zod';
import { addressSchema, mailRequestSchema } from '../mail/mail-request';
import { envelopeSchema } from '../mail/envelope';
import { statusViewSchema } from '../status/status-view';
import type { HttpFunctionSpec, ResponseSpec } from './function-table';
import { routeTemplate } from './routes';

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
  allOf: [{ $ref: '#/components/schemas/MailStatus' }, { type: 'object', properties: { statusUrl: { type: 'string', description: 'Where to poll; also in Location.' } } }],
};

const headers = {
  Location: { description: 'Status URL of the message.', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before polling.', schema: { type: 'integer' } },
};

function response(spec: ResponseSpec): Record<string, unknown> {
  const schema = spec.problem ? 'Problem' : spec.body;
  return {
    description: spec.description,
    ...(spec.headers ? { headers: Object.fromEntries(spec.headers.map((name) => [name, headers[name]])) } : {}),
    ...(schema ? { content: { [spec.problem ? 'application/problem+json' : 'application/json']: { schema: { $ref: `#/components/schemas/${schema}` } } } } : {}),
  };
}

function operation(fn: HttpFunctionSpec): Record<string, unknown> {
  const parameters = [...fn.route.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  const responses = Object.fromEntries(Object.entries(fn.operation.responses).map(([status, spec]) => [status, response(spec)]));
  if (fn.authLevel === 'function') {
    responses['401'] = { description: 'No valid credential: a function or caller key (x-functions-key header or code query parameter), or an Entra access token.' };
    responses['403'] ??= response({ description: 'Authenticated, but not a caller of this API (MAIL_CALLERS).', problem: true });
  }
  return {
    operationId: fn.name,
    summary: fn.operation.summary,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(fn.operation.requestBody
      ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${fn.operation.requestBody}` } } } } }
      : {}),
    responses,
    security: fn.authLevel === 'function' ? [{ functionKey: [] }, { functionKeyQuery: [] }, { entraToken: [] }] : [],
  };
}

export function openApiDocument(functions: readonly HttpFunctionSpec[]): Record<string, unknown> {
  // One registry so shared parts (Address, MailRequest) become components referenced by $ref.
  const registry = z.registry<{ id: string }>();
  registry.add(addressSchema, { id: 'Address' }).add(mailRequestSchema, { id: 'MailRequest' }).add(envelopeSchema, { id: 'OutboxEnvelope' }).add(statusViewSchema, { id: 'MailStatus' });
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const fn of functions) (paths[routeTemplate(fn.route)] ??= {})[fn.method.toLowerCase()] = operation(fn);
  return {
    openapi: '3.1.0',
    info: { title: 'Exchange Online SMTP mail sender', version: '1' },
    paths,
    components: {
      schemas: { ...schemas, Problem: problemSchema, AcceptedMail: acceptedSchema },
      securitySchemes: {
        functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
        entraToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A Microsoft Entra access token for the API, with the app role Mail.Send to send.' },
      },
    },
  };
}
