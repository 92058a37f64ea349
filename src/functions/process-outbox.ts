// The outbox queue's trigger: each queued mail to the worker, which sends it over SMTP.
import { app } from '@azure/functions';
import { STORAGE_CONNECTION } from '../config/app-settings';
import { lazyQueue, queueOptions, type QueueFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const processOutbox: QueueFunctionDefinition = {
  name: 'processOutbox',
  trigger: 'queue',
  queueName: '%MAIL_QUEUE_NAME%',
  connection: STORAGE_CONNECTION,
  handler: lazyQueue(() => import('../handlers/process-outbox.js').then((m) => m.createProcessOutboxHandler)),
};

app.storageQueue(processOutbox.name, queueOptions(processOutbox, processServices));
