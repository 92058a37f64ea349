// The API description, generated from the same schemas that validate requests and queue messages.
import { z } from 'zod';
import { addressSchema, mailRequestSchema } from '../mail/mail-request';
import { envelopeSchema } from '../mail/envelope';
import { statusViewSchema } from '../status/status-view';

const problemSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, detail: { type: 'string' } } } },
  },
};

export function openApiDocument(): Record<string, unknown> {
  // One registry so shared parts (Address, MailRequest) become components referenced by $ref.
  const registry = z.registry<{ id: string }>();
  registry.add(addressSchema, { id: 'Address' }).add(mailRequestSchema, { id: 'MailRequest' }).add(envelopeSchema, { id: 'OutboxEnvelope' }).add(statusViewSchema, { id: 'MailStatus' });
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });
  const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
  return {
    openapi: '3.1.0',
    info: { title: 'Exchange Online SMTP mail sender', version: '1' },
    paths: {
      '/api/mail': {
        post: {
          operationId: 'sendMail',
          summary: 'Queue a mail for sending; follow the returned Location for its outcome.',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MailRequest' } } } },
          responses: {
            '202': {
              description: 'Accepted and queued.',
              headers: { Location: { schema: { type: 'string' }, description: 'Status URL of the message.' } },
              content: { 'application/json': { schema: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, statusUrl: { type: 'string' } } } } },
            },
            '400': problem('Invalid request; errors lists every bad field.'),
            '413': problem('Body or message over the configured limit.'),
            '415': problem('Body is not application/json.'),
          },
        },
      },
      '/api/mail/{id}': {
        get: {
          operationId: 'getMailStatus',
          summary: 'The outcome of a mail (Logic Apps asynchronous pattern).',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'Sent.', content: { 'application/json': { schema: { $ref: '#/components/schemas/MailStatus' } } } },
            '202': {
              description: 'Still queued, sending or deferred; poll Location after Retry-After seconds.',
              headers: { Location: { schema: { type: 'string' } }, 'Retry-After': { schema: { type: 'integer' } } },
              content: { 'application/json': { schema: { $ref: '#/components/schemas/MailStatus' } } },
            },
            '404': problem('No message with this id.'),
            '422': problem('Failed; detail says what to do, mail holds the status record.'),
          },
        },
      },
    },
    components: {
      schemas: { ...schemas, Problem: problemSchema },
      securitySchemes: { functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' } },
    },
    security: [{ functionKey: [] }],
  };
}
