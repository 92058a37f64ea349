import { app } from '@azure/functions';
import { createGetMailStatusHandler } from '../handlers/get-mail-status';
import { sharedRuntime } from '../runtime';

app.http('getMailStatus', {
  methods: ['GET'],
  route: 'mail/{id}',
  authLevel: 'function',
  handler: createGetMailStatusHandler(sharedRuntime),
});
