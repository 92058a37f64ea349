// The app's functions as the local host serves them: the function table's handlers, routes and queues.
import type { Runtime } from '../src/runtime';
import { httpFunctions, queueFunctions, queueNameOf } from '../src/api/function-table';
import type { HttpFunction, QueueFunction } from './functions-host';

export function localFunctions(runtime: Runtime): { http: HttpFunction[]; queue: QueueFunction[] } {
  const rt = () => runtime;
  return {
    http: httpFunctions().map((fn) => ({ name: fn.name, method: fn.method, route: fn.route, handler: fn.handler(rt) })),
    queue: queueFunctions().map((fn) => {
      // The table names each queue by app setting (%MAIL_QUEUE_NAME%), which the host resolves; so does this.
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
