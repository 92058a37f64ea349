import { app } from '@azure/functions';
import { STORAGE_CONNECTION } from '../settings';
import { createProcessOutboxHandler } from '../handlers/process-outbox';
import { sharedRuntime } from '../runtime';

app.storageQueue('processOutbox', {
  queueName: '%MAIL_QUEUE_NAME%',
  connection: STORAGE_CONNECTION,
  handler: createProcessOutboxHandler(sharedRuntime),
});
