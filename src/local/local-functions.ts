// The app's functions as the local host serves them: same handlers, same routes as src/functions/.
import type { Runtime } from '../runtime';
import { createSendMailHandler } from '../handlers/send-mail';
import { createGetMailStatusHandler } from '../handlers/get-mail-status';
import { createProcessOutboxHandler } from '../handlers/process-outbox';
import { openApi } from '../handlers/open-api';
import type { HttpFunction, QueueFunction } from './functions-host';

export function localFunctions(runtime: Runtime): { http: HttpFunction[]; queue: QueueFunction[] } {
  const rt = () => runtime;
  const queueName = runtime.config.queueName;
  return {
    http: [
      { name: 'sendMail', method: 'POST', route: 'mail', handler: createSendMailHandler(rt) },
      { name: 'getMailStatus', method: 'GET', route: 'mail/{id}', handler: createGetMailStatusHandler(rt) },
      { name: 'openApi', method: 'GET', route: 'openapi.json', handler: openApi },
    ],
    queue: [
      {
        name: 'processOutbox',
        queue: runtime.storage.queues.getQueueClient(queueName),
        poisonQueue: runtime.storage.queues.getQueueClient(`${queueName}-poison`),
        handler: createProcessOutboxHandler(rt),
      },
    ],
  };
}
