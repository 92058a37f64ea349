// What a function file (src/functions/<name>.ts) declares about its function, and the options app.http and
// app.storageQueue take for it. The local host serves the same definitions.
import { join } from 'node:path';
import type {
  HttpFunctionOptions,
  HttpHandler,
  StorageQueueFunctionOptions,
  StorageQueueHandler,
  TimerFunctionOptions,
  TimerHandler,
} from '@azure/functions';
import type { AppServices } from './app-services';
import { STORAGE_CONNECTION } from '../config/app-settings';
import { appAuthenticatesCallers, type MailConfig } from '../config/load-config';
import { loadAppServicesModule } from './process-services';

/** The folder of the function files: what package.json "main" names, one function (or the app's setup) a file. */
export const FUNCTIONS_DIRECTORY = join(__dirname, '..', 'functions');

export interface HttpFunctionDefinition {
  name: string;
  trigger: 'http';
  method: 'GET' | 'POST' | 'OPTIONS';
  /** Under host.json's route prefix (src/api/routes.ts). */
  route: string;
  /** admin: the host's master key only (diagnostics). */
  authLevel: 'anonymous' | 'function' | 'admin';
  /** Whether the app checks this function's requests itself even without MAIL_CALLERS (signed hooks). */
  appAuthenticates?: () => boolean;
  /** Given the app's services; each handler takes the part of them it names (its Deps). */
  handler: (services: () => AppServices) => HttpHandler;
}

export interface QueueFunctionDefinition {
  name: string;
  trigger: 'queue';
  /** An app setting reference, resolved by the host: the queue is configurable. */
  queueName: '%MAIL_QUEUE_NAME%' | '%MAIL_CALLBACK_QUEUE_NAME%';
  connection: typeof STORAGE_CONNECTION;
  handler: (services: () => AppServices) => StorageQueueHandler;
}

export interface TimerFunctionDefinition {
  name: string;
  trigger: 'timer';
  /** NCRONTAB with seconds, in UTC. The host runs one invocation at a time across all instances. */
  schedule: string;
  handler: (services: () => AppServices) => TimerHandler;
}

export type FunctionDefinition = HttpFunctionDefinition | QueueFunctionDefinition | TimerFunctionDefinition;

/**
 * A handler whose module, with the app's services and the SDKs behind them, is imported at the first invocation
 * instead of when the host loads the app: the host indexes the functions in a fraction of the time, and what only one
 * function uses (the hooks' template engine, the doctor, the API documents) loads only in an instance that runs it.
 */
export function lazyHttp(load: () => Promise<(services: () => AppServices) => HttpHandler>): (services: () => AppServices) => HttpHandler {
  return (services) => {
    const handler = loadOnce(load, services);
    return async (request, context) => (await handler())(request, context);
  };
}

export function lazyQueue(
  load: () => Promise<(services: () => AppServices) => StorageQueueHandler>,
): (services: () => AppServices) => StorageQueueHandler {
  return (services) => {
    const handler = loadOnce(load, services);
    return async (entry, context) => (await handler())(entry, context);
  };
}

export function lazyTimer(
  load: () => Promise<(services: () => AppServices) => TimerHandler>,
): (services: () => AppServices) => TimerHandler {
  return (services) => {
    const handler = loadOnce(load, services);
    return async (timer, context) => (await handler())(timer, context);
  };
}

function loadOnce<H>(load: () => Promise<(services: () => AppServices) => H>, services: () => AppServices): () => Promise<H> {
  let ready: Promise<H> | undefined;
  return () =>
    (ready ??= Promise.all([load(), loadAppServicesModule()])
      .then(([create]) => create(services))
      .catch((error: unknown) => {
        // A failed import is tried again at the next invocation rather than remembered.
        ready = undefined;
        throw error;
      }));
}

/**
 * What app.http takes for an HTTP function. With a caller policy (MAIL_CALLERS) the app authenticates each caller
 * itself (Entra tokens, caller keys), so the host must let the request through: it cannot tell the app which
 * function key was used, and an Entra caller has none.
 */
export function httpOptions(
  fn: HttpFunctionDefinition,
  services: () => AppServices,
  appAuthenticates = appAuthenticatesCallers(),
): HttpFunctionOptions {
  const appChecks = appAuthenticates || (fn.appAuthenticates?.() ?? false);
  const authLevel = fn.authLevel === 'function' && appChecks ? 'anonymous' : fn.authLevel;
  return { methods: [fn.method], route: fn.route, authLevel, handler: fn.handler(services) };
}

/** What app.storageQueue takes for a queue function. */
export function queueOptions(fn: QueueFunctionDefinition, services: () => AppServices): StorageQueueFunctionOptions {
  return { queueName: fn.queueName, connection: fn.connection, handler: fn.handler(services) };
}

/** What app.timer takes for a timer function: not run at start, so a restart loop cannot run it in a loop. */
export function timerOptions(fn: TimerFunctionDefinition, services: () => AppServices): TimerFunctionOptions {
  return { schedule: fn.schedule, runOnStartup: false, useMonitor: true, handler: fn.handler(services) };
}

/** The queue a queue function reads, as the host resolves its %SETTING% from the app settings. */
export function queueNameOf(fn: QueueFunctionDefinition, config: Pick<MailConfig, 'queueName' | 'callbacks'>): string {
  return fn.queueName === '%MAIL_CALLBACK_QUEUE_NAME%' ? config.callbacks.queueName : config.queueName;
}
