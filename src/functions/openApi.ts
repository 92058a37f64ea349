import { app } from '@azure/functions';
import { openApi } from '../handlers/open-api';

app.http('openApi', {
  methods: ['GET'],
  route: 'openapi.json',
  authLevel: 'anonymous',
  handler: openApi,
});
