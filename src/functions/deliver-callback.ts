// The callback queue's trigger: each mail's outcome posted to its callbackUrl, retried with a growing delay.
import { app } from '@azure/functions';
import { STORAGE_CONNECTION } from '../config/app-settings';
import { lazyQueue, queueOptions, type QueueFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const deliverCallback: QueueFunctionDefinition = {
  name: 'deliverCallback',
  trigger: 'queue',
  queueName: '%MAIL_CALLBACK_QUEUE_NAME%',
  connection: STORAGE_CONNECTION,
  handler: lazyQueue(() => import('../handlers/deliver-callback.js').then((m) => m.createDeliverCallbackHandler)),
};

app.storageQueue(deliverCallback.name, queueOptions(deliverCallback, processServices));
