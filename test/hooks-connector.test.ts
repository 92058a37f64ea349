// The API documents: OpenAPI 3.1 and 2.0 from the same schemas and the API's operations, both passing a standard
// validator (@apidevtools/swagger-parser), listing every function with every status; and the custom connector
// folder equal to what `npm run connector` generates and to what the app serves, so it cannot drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { API_OPERATIONS } from '../src/api/operations';
import { appFunctions } from '../src/hosting/app-functions';
import { openApiDocument, swaggerDocument } from '../src/api/openapi';
import { CONNECTOR_PLACEHOLDER_HOST, connectorFiles, serialize } from '../generators/connector';
import { loadConfig } from '../src/config/load-config';
import { createAppServices } from '../src/hosting/app-services';

const CONNECTOR = join(__dirname, '..', '..', 'connector');
type Operation = {
  operationId: string;
  summary: string;
  responses: Record<string, any>;
  parameters?: any[];
  security?: unknown[];
  'x-ms-visibility'?: string;
};
type Paths = Record<string, Record<string, Operation>>;

test('both documents pass the validator', { timeout: 60_000 }, async () => {
  // The validator resolves references in place: give it copies.
  const v31 = (await SwaggerParser.validate(structuredClone(openApiDocument()) as never)) as { openapi: string };
  assert.equal(v31.openapi, '3.1.0');
  const v20 = (await SwaggerParser.validate(structuredClone(swaggerDocument({ baseUrl: 'https://mail.contoso.example' })) as never)) as {
    swagger: string;
  };
  assert.equal(v20.swagger, '2.0');
});

test('both documents list every HTTP function with every status it answers', () => {
  const v31 = openApiDocument() as { paths: Paths };
  const v20 = swaggerDocument() as { paths: Paths };
  for (const document of [v31, v20]) {
    const listed = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => [op.operationId, method.toUpperCase(), path]),
    );
    assert.deepEqual(listed.sort(), API_OPERATIONS.map((op) => [op.operationId, op.method, `/api/${op.route}`]).sort());
  }
  for (const paths of [v31.paths, v20.paths]) {
    assert.deepEqual(Object.keys(paths['/api/mail'].post.responses).sort(), [
      '202',
      '400',
      '401',
      '403',
      '413',
      '415',
      '422',
      '429',
      '503',
    ]);
    assert.deepEqual(Object.keys(paths['/api/hooks/{template}'].post.responses).sort(), [
      '200',
      '202',
      '400',
      '401',
      '403',
      '404',
      '413',
      '415',
      '422',
      '429',
      '500',
      '503',
    ]);
    assert.deepEqual(Object.keys(paths['/api/hooks/{template}'].options.responses).sort(), ['200', '400', '401', '403', '404', '503']);
  }
  assert.deepEqual(
    Object.keys(v20.paths['/api/mail'].post.responses['202'].headers).sort(),
    ['Location', 'Retry-After'],
    'the asynchronous pattern',
  );
  assert.deepEqual(v20.paths['/api/swagger.json'].get.security, [], 'the description is anonymous, as registered');
});

test('the 2.0 document is one a custom connector reads: no unions, a title on every field, short summaries, one key', () => {
  const document = swaggerDocument() as {
    paths: Paths;
    definitions: Record<string, unknown>;
    securityDefinitions: Record<string, unknown>;
  };
  const text = JSON.stringify(document);
  assert.ok(!/"(anyOf|oneOf|const|\$schema|propertyNames|contentEncoding)"/.test(text), 'only Swagger 2.0 schema keywords');
  assert.deepEqual(Object.keys(document.securityDefinitions), ['api_key']);
  const untitled: string[] = [];
  const walk = (schema: any, at: string) => {
    if (!schema || typeof schema !== 'object') return;
    for (const [name, property] of Object.entries<any>(schema.properties ?? {})) {
      if (!property['x-ms-summary']) untitled.push(`${at}.${name}`);
      walk(property, `${at}.${name}`);
    }
    walk(schema.items, `${at}[]`);
    for (const part of schema.allOf ?? []) walk(part, at);
  };
  for (const [name, schema] of Object.entries(document.definitions)) walk(schema, name);
  assert.deepEqual(untitled, []);
  for (const ops of Object.values(document.paths)) {
    for (const op of Object.values(ops)) {
      assert.ok(op.summary.length <= 80, `${op.operationId}: summary over 80 characters`);
      for (const parameter of op.parameters ?? [])
        assert.ok(parameter.in === 'body' || parameter['x-ms-summary'], `${op.operationId}: ${parameter.name} has no x-ms-summary`);
    }
  }
  assert.equal(document.paths['/api/hooks/{template}'].options['x-ms-visibility'], 'internal');
  const mail = (document.definitions.MailRequest as { properties: Record<string, { type: string; 'x-ms-visibility'?: string }> })
    .properties;
  assert.equal(mail.to.type, 'array', 'a list of addresses, the richest form the API accepts');
  assert.equal(mail.bcc['x-ms-visibility'], 'advanced');
});

test('connector/ is what npm run connector writes from the code', () => {
  for (const [name, document] of Object.entries(connectorFiles())) {
    assert.equal(readFileSync(join(CONNECTOR, name), 'utf8'), serialize(document), `connector/${name} is stale: run npm run connector`);
  }
});

test(
  'connector/apiDefinition.swagger.json is what the app serves at /api/swagger.json, but for the host',
  { timeout: 30_000 },
  async () => {
    const config = loadConfig({
      MAIL_AUTH_MODE: 'managedIdentity',
      MAIL_ALLOWED_SENDERS: 'a@contoso.example',
      MailStorage: 'UseDevelopmentStorage=true',
      WEBSITE_HOSTNAME: 'func-mail.azurewebsites.net',
    });
    const runtime = createAppServices(config);
    const handler = appFunctions()
      .http.find((fn) => fn.name === 'swagger')!
      .handler(() => runtime);
    const response = await handler(
      new HttpRequest({ method: 'GET', url: 'https://func-mail.azurewebsites.net/api/swagger.json' }),
      new InvocationContext(),
    );
    const served = (response as HttpResponseInit).jsonBody as Record<string, unknown>;
    assert.equal(served.host, 'func-mail.azurewebsites.net', 'the host the app knows itself by');
    const checkedIn = JSON.parse(readFileSync(join(CONNECTOR, 'apiDefinition.swagger.json'), 'utf8'));
    assert.equal(checkedIn.host, CONNECTOR_PLACEHOLDER_HOST);
    assert.deepEqual({ ...served, host: CONNECTOR_PLACEHOLDER_HOST }, checkedIn);
    const properties = JSON.parse(readFileSync(join(CONNECTOR, 'apiProperties.json'), 'utf8'));
    assert.deepEqual(
      Object.keys(properties.properties.connectionParameters),
      Object.keys(checkedIn.securityDefinitions),
      'the connection parameter is the security definition',
    );
  },
);
