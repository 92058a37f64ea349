// What the Functions host would register, captured without the host, and checked against the local host,
// so the sandbox and the tests serve exactly the app's functions, routes and bindings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as functions from '@azure/functions';
import { loadConfig } from '../src/config/load-config';
import { SETTINGS, STORAGE_CONNECTION } from '../src/config/app-settings';
import { createAppServices } from '../src/hosting/app-services';
import { localFunctions } from '../sandbox/local-functions';
import { appFunctions } from '../src/hosting/app-functions';
import { httpOptions } from '../src/hosting/function-definition';
import { API_OPERATIONS } from '../src/api/operations';
import { openApiDocument } from '../src/api/openapi';

interface Registered {
  kind: 'http' | 'queue' | 'timer' | 'appStart' | 'setup';
  name?: string;
  options?: Record<string, any>;
}

function captureRegistrations(): Registered[] {
  const seen: Registered[] = [];
  const app = functions.app as any;
  app.http = (name: string, options: object) => seen.push({ kind: 'http', name, options });
  app.storageQueue = (name: string, options: object) => seen.push({ kind: 'queue', name, options });
  app.timer = (name: string, options: object) => seen.push({ kind: 'timer', name, options });
  app.hook.appStart = () => seen.push({ kind: 'appStart' });
  Object.defineProperty(app, 'setup', { value: (options: object) => seen.push({ kind: 'setup', options }) });
  const dir = join(__dirname, '..', 'src', 'functions');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading every registration file, as the host's glob does
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) require(join(dir, file));
  return seen;
}

const registered = captureRegistrations();

test('each function file registers the one function it declares, the Functions way, plus the configuration check at start', () => {
  const http = registered
    .filter((r) => r.kind === 'http')
    .map((r) => [r.name, r.options!.methods.join(), r.options!.route, r.options!.authLevel]);
  const declared = appFunctions().http.map((fn) => [fn.name, fn.method, fn.route, fn.authLevel]);
  assert.deepEqual(http.sort(), declared.sort());
  assert.deepEqual(http.map((r) => r[0]).sort(), [
    'getMailStatus',
    'hookOptions',
    'openApi',
    'postHook',
    'runDoctor',
    'sendMail',
    'swagger',
  ]);
  assert.equal(
    readdirSync(join(__dirname, '..', 'src', 'functions')).filter((f) => f.endsWith('.js')).length,
    appFunctions().http.length + appFunctions().queue.length + appFunctions().timer.length + 1,
  );
  // Named as the function it registers, in kebab case: sendMail in send-mail.js.
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  assert.deepEqual(
    readdirSync(join(__dirname, '..', 'src', 'functions'))
      .filter((f) => f.endsWith('.js'))
      .sort(),
    ['app.js', ...registered.filter((r) => r.name).map((r) => `${kebab(r.name!)}.js`)].sort(),
  );
  assert.equal(registered.filter((r) => r.kind === 'appStart').length, 1);
});

test('HTTP streaming is on, so request bodies reach the handler as streams it can stop reading', () => {
  assert.deepEqual(
    registered.filter((r) => r.kind === 'setup').map((r) => r.options),
    [{ enableHttpStream: true }],
  );
});

test('the queue triggers read %MAIL_QUEUE_NAME% and %MAIL_CALLBACK_QUEUE_NAME% through the MailStorage connection', () => {
  const queue = registered.filter((r) => r.kind === 'queue');
  assert.deepEqual(queue.map((q) => [q.name, q.options!.queueName, q.options!.connection]).sort(), [
    ['deliverCallback', '%MAIL_CALLBACK_QUEUE_NAME%', STORAGE_CONNECTION],
    ['processOutbox', '%MAIL_QUEUE_NAME%', STORAGE_CONNECTION],
  ]);
  assert.ok(SETTINGS.some((s) => s.name === 'MAIL_QUEUE_NAME'));
  assert.ok(SETTINGS.some((s) => s.name === 'MAIL_CALLBACK_QUEUE_NAME'));
});

test('the local host serves the same functions on the same routes', () => {
  const config = loadConfig({
    MAIL_AUTH_MODE: 'managedIdentity',
    MAIL_ALLOWED_SENDERS: 'a@contoso.example',
    MailStorage: 'UseDevelopmentStorage=true',
  });
  const runtime = createAppServices(config);
  const local = localFunctions(runtime);
  const http = registered.filter((r) => r.kind === 'http').map((r) => [r.name, r.options!.methods.join(), r.options!.route]);
  assert.deepEqual(local.http.map((f) => [f.name, f.method, f.route]).sort(), http.sort());
  assert.deepEqual(local.queue.map((f) => [f.name, f.queue.name]).sort(), [
    ['deliverCallback', config.callbacks.queueName],
    ['processOutbox', config.queueName],
  ]);
});

test('the API operations are the HTTP functions as registered: name, method, route and auth level', () => {
  assert.deepEqual(
    API_OPERATIONS.map((op) => [op.operationId, op.method, op.route, op.authLevel]).sort(),
    appFunctions()
      .http.map((fn) => [fn.name, fn.method, fn.route, fn.authLevel])
      .sort(),
  );
});

test('the OpenAPI document describes exactly the HTTP functions, with their methods, auth and every response status', () => {
  const document = openApiDocument() as {
    paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown>; security: unknown[] }>>;
  };
  const described = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => [op.operationId, method.toUpperCase(), path]),
  );
  assert.deepEqual(
    described.sort(),
    appFunctions()
      .http.map((fn) => [fn.name, fn.method, `/api/${fn.route}`])
      .sort(),
  );
  const post = document.paths['/api/mail'].post;
  assert.deepEqual(Object.keys(post.responses).sort(), ['202', '400', '401', '403', '413', '415', '422', '429', '503']);
  assert.deepEqual(Object.keys(document.paths['/api/mail/{id}'].get.responses).sort(), ['200', '202', '401', '403', '404', '422']);
  assert.deepEqual(document.paths['/api/openapi.json'].get.security, [], 'the description is anonymous, as registered');
});

test('the doctor endpoint takes the master key only, and stays so when the app authenticates callers', () => {
  const doctor = registered.find((r) => r.name === 'runDoctor');
  assert.equal(doctor?.options?.authLevel, 'admin');
  const declared = appFunctions().http.find((fn) => fn.name === 'runDoctor')!;
  assert.equal(httpOptions(declared, () => ({}) as never, true).authLevel, 'admin');
});

test('loading the functions and the start check loads no SDK: each handler imports its own at its first invocation', async () => {
  // The Functions worker's way: every registration file, then appStart, in a fresh process; then which packages
  // are loaded. Storage, SMTP, identity, templates and token checks must wait for a function to run.
  const script = `
    const Module = require('node:module');
    const { readdirSync } = require('node:fs');
    const path = require('node:path');
    const hooks = [];
    const core = { version: '3.0.0', hostVersion: '4.0.0', log: () => {}, getProgrammingModel: () => undefined,
      setProgrammingModel: () => {}, registerFunction: () => ({ dispose() {} }),
      registerHook: (name, callback) => (hooks.push({ name, callback }), { dispose() {} }) };
    Module.prototype.require = new Proxy(Module.prototype.require, {
      apply: (target, self, args) => (args[0] === '@azure/functions-core' ? core : Reflect.apply(target, self, args)) });
    console.log = () => {};
    (async () => {
      const dir = ${JSON.stringify(join(__dirname, '..', 'src', 'functions'))};
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) require(path.join(dir, file));
      for (const hook of hooks) await hook.callback({ hookData: {}, appHookData: {}, functionAppDirectory: dir });
      const packages = new Set(Object.keys(require.cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
      process.stdout.write(JSON.stringify([...packages].sort()));
    })();`;
  const { execFileSync } = await import('node:child_process');
  const env = {
    ...process.env,
    MailStorage: 'UseDevelopmentStorage=true',
    MAIL_AUTH_MODE: 'managedIdentity',
    MAIL_ALLOWED_SENDERS: 'a@contoso.example',
  };
  const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 30_000 })) as string[];
  const sdks = [
    '@azure/storage-blob',
    '@azure/storage-queue',
    '@azure/data-tables',
    '@azure/identity',
    '@azure/msal-node',
    'nodemailer',
    'liquidjs',
    'jose',
  ];
  assert.deepEqual(
    loaded.filter((p) => sdks.includes(p)),
    [],
    `loaded at start: ${loaded.join(', ')}`,
  );
  assert.ok(loaded.includes('@azure/functions') && loaded.includes('zod'), 'the registrations and the settings check did load');
});

test('the delivery report reader runs on a timer every five minutes, never at start', () => {
  const timers = registered.filter((r) => r.kind === 'timer');
  assert.deepEqual(
    timers.map((t) => [t.name, t.options!.schedule, t.options!.runOnStartup, typeof t.options!.handler]),
    [['readDeliveryReports', '0 */5 * * * *', false, 'function']],
  );
  assert.deepEqual(
    appFunctions().timer.map((fn) => fn.name),
    ['readDeliveryReports'],
  );
});
