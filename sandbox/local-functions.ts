// The app's functions as the local host serves them: the function files' handlers, routes and queues.
import type { AppServices } from '../src/hosting/app-services';
import { appFunctions } from '../src/hosting/app-functions';
import { queueNameOf } from '../src/hosting/function-definition';
import type { HttpFunction, QueueFunction } from './functions-host';

export function localFunctions(services: AppServices): { http: HttpFunction[]; queue: QueueFunction[] } {
  const ofThisHost = () => services;
  const { http, queue } = appFunctions();
  return {
    http: http.map((fn) => ({ name: fn.name, method: fn.method, route: fn.route, handler: fn.handler(ofThisHost) })),
    queue: queue.map((fn) => {
      // A function file names its queue by app setting (%MAIL_QUEUE_NAME%), which the host resolves; so does this.
      const queueName = queueNameOf(fn, services.config);
      return {
        name: fn.name,
        queue: services.storage.queues.getQueueClient(queueName),
        poisonQueue: services.storage.queues.getQueueClient(`${queueName}-poison`),
        handler: fn.handler(ofThisHost),
      };
    }),
  };
}
