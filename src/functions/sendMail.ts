import { app } from '@azure/functions';
import { createSendMailHandler } from '../handlers/send-mail';
import { sharedRuntime } from '../runtime';

app.http('sendMail', {
  methods: ['POST'],
  route: 'mail',
  authLevel: 'function',
  handler: createSendMailHandler(sharedRuntime),
});
