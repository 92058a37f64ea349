// The app's functions as the local host serves them: the function files' handlers, routes and queues.
import type { Runtime } from '../src/runtime';
import { appFunctions } from '../src/hosting/app-functions';
import { queueNameOf } from '../src/hosting/function-definition';
import type { HttpFunction, QueueFunction } from './functions-host';

export function localFunctions(runtime: Runtime): { http: HttpFunction[]; queue: QueueFunction[] } {
  const rt = () => runtime;
  const { http, queue } = appFunctions();
  return {
    http: http.map((fn) => ({ name: fn.name, method: fn.method, route: fn.route, handler: fn.handler(rt) })),
    queue: queue.map((fn) => {
      // A function file names its queue by app setting (%MAIL_QUEUE_NAME%), which the host resolves; so does this.
      const queueName = queueNameOf(fn, runtime.config);
      return {
        name: fn.name,
        queue: runtime.storage.queues.getQueueClient(queueName),
        poisonQueue: runtime.storage.queues.getQueueClient(`${queueName}-poison`),
        handler: fn.handler(rt),
      };
    }),
  };
}
