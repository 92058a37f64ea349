// What the Functions host would register, captured without the host, and checked against the local host,
// so the sandbox and the tests serve exactly the app's functions, routes and bindings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as functions from '@azure/functions';
import { loadConfig } from '../src/config';
import { SETTINGS, STORAGE_CONNECTION } from '../src/settings';
import { createRuntime } from '../src/runtime';
import { localFunctions } from '../src/local/local-functions';

interface Registered {
  kind: 'http' | 'queue' | 'appStart' | 'setup';
  name?: string;
  options?: Record<string, any>;
}

function captureRegistrations(): Registered[] {
  const seen: Registered[] = [];
  const app = functions.app as any;
  app.http = (name: string, options: object) => seen.push({ kind: 'http', name, options });
  app.storageQueue = (name: string, options: object) => seen.push({ kind: 'queue', name, options });
  app.hook.appStart = () => seen.push({ kind: 'appStart' });
  Object.defineProperty(app, 'setup', { value: (options: object) => seen.push({ kind: 'setup', options }) });
  const dir = join(__dirname, '..', 'src', 'functions');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) require(join(dir, file));
  return seen;
}

const registered = captureRegistrations();

test('each function file registers one function the Functions way, plus the configuration check at start', () => {
  const http = registered.filter((r) => r.kind === 'http').map((r) => [r.name, r.options!.methods.join(), r.options!.route, r.options!.authLevel]);
  assert.deepEqual(http.sort(), [
    ['getMailStatus', 'GET', 'mail/{id}', 'function'],
    ['openApi', 'GET', 'openapi.json', 'anonymous'],
    ['sendMail', 'POST', 'mail', 'function'],
  ]);
  assert.equal(registered.filter((r) => r.kind === 'appStart').length, 1);
});

test('HTTP streaming is on, so request bodies reach the handler as streams it can stop reading', () => {
  assert.deepEqual(registered.filter((r) => r.kind === 'setup').map((r) => r.options), [{ enableHttpStream: true }]);
});

test('the queue trigger reads %MAIL_QUEUE_NAME% through the MailStorage connection', () => {
  const queue = registered.filter((r) => r.kind === 'queue');
  assert.equal(queue.length, 1);
  assert.equal(queue[0]!.name, 'processOutbox');
  assert.equal(queue[0]!.options!.queueName, '%MAIL_QUEUE_NAME%');
  assert.equal(queue[0]!.options!.connection, STORAGE_CONNECTION);
  assert.ok(SETTINGS.some((s) => s.name === 'MAIL_QUEUE_NAME'));
});

test('the local host serves the same functions on the same routes', () => {
  const config = loadConfig({ MAIL_AUTH_MODE: 'managedIdentity', MAIL_ALLOWED_SENDERS: 'a@contoso.example', MailStorage: 'UseDevelopmentStorage=true' });
  const runtime = createRuntime(config);
  const local = localFunctions(runtime);
  const http = registered.filter((r) => r.kind === 'http').map((r) => [r.name, r.options!.methods.join(), r.options!.route]);
  assert.deepEqual(local.http.map((f) => [f.name, f.method, f.route]).sort(), http.sort());
  assert.deepEqual(local.queue.map((f) => [f.name, f.queue.name]), [['processOutbox', config.queueName]]);
});
