// The app's functions as their files declare them, found the way the Functions worker finds them (every file of the
// functions folder that package.json "main" names): for the local host and the tests, which serve and check these.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as functions from '@azure/functions';
import {
  FUNCTIONS_DIRECTORY,
  type FunctionDefinition,
  type HttpFunctionDefinition,
  type QueueFunctionDefinition,
  type TimerFunctionDefinition,
} from './function-definition';

export interface AppFunctions {
  http: HttpFunctionDefinition[];
  queue: QueueFunctionDefinition[];
  timer: TimerFunctionDefinition[];
}

let found: AppFunctions | undefined;

export function appFunctions(): AppFunctions {
  found ??= load();
  return found;
}

/** The app's own setup (HTTP streaming, start and end hooks): the Functions worker's business, no function. */
const APP_SETUP_FILE = 'app.js';

function load(): AppFunctions {
  const definitions: FunctionDefinition[] = [];
  // Outside the Functions worker there is no host to register with (@azure/functions would warn of each one): while
  // the files load, their registrations go nowhere; what they declare is what this returns.
  const registry = functions.app as unknown as Record<'http' | 'storageQueue' | 'timer', unknown>;
  const { http, storageQueue, timer } = registry;
  registry.http = registry.storageQueue = registry.timer = () => undefined;
  try {
    for (const file of readdirSync(FUNCTIONS_DIRECTORY).filter((f) => f.endsWith('.js') && f !== APP_SETUP_FILE)) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- every function file, as the worker's glob loads them
      const exports = require(join(FUNCTIONS_DIRECTORY, file)) as Record<string, unknown>;
      definitions.push(...Object.values(exports).filter(isDefinition));
    }
  } finally {
    Object.assign(registry, { http, storageQueue, timer });
  }
  return {
    http: definitions.filter((fn): fn is HttpFunctionDefinition => fn.trigger === 'http'),
    queue: definitions.filter((fn): fn is QueueFunctionDefinition => fn.trigger === 'queue'),
    timer: definitions.filter((fn): fn is TimerFunctionDefinition => fn.trigger === 'timer'),
  };
}

function isDefinition(value: unknown): value is FunctionDefinition {
  const fn = value as Partial<FunctionDefinition> | null;
  return (
    typeof fn === 'object' &&
    fn !== null &&
    typeof fn.name === 'string' &&
    (fn.trigger === 'http' || fn.trigger === 'queue' || fn.trigger === 'timer')
  );
}
