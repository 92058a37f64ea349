import { app } from '@azure/functions';
import { openApiDocument } from '../api/openapi';

app.http('openApi', {
  methods: ['GET'],
  route: 'openapi.json',
  authLevel: 'anonymous',
  handler: async () => ({ jsonBody: openApiDocument() }),
});
