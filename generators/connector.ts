// The Power Platform custom connector (connector/): apiDefinition.swagger.json is the OpenAPI 2.0 document the app
// serves at /api/swagger.json, for a placeholder host to replace with the app's; apiProperties.json names the one
// connection parameter, the key. `npm run connector` writes both; test/hooks-connector.test.ts keeps them equal.
import { swaggerDocument } from '../src/api/openapi';

/** Replace with the Function App's host name (or pass --host to npm run connector). */
export const CONNECTOR_PLACEHOLDER_HOST = 'your-function-app.azurewebsites.net';

export function connectorFiles(
  host = CONNECTOR_PLACEHOLDER_HOST,
): Record<'apiDefinition.swagger.json' | 'apiProperties.json', Record<string, unknown>> {
  return {
    'apiDefinition.swagger.json': swaggerDocument({ baseUrl: `https://${host}` }),
    'apiProperties.json': {
      properties: {
        connectionParameters: {
          api_key: {
            type: 'securestring',
            uiDefinition: {
              displayName: 'Key',
              description: 'A function key of the app, or a caller key of MAIL_CALLERS (sent as x-functions-key).',
              tooltip: 'The key the mail sender gave you',
              constraints: { tabIndex: 2, clearText: false, required: 'true' },
            },
          },
        },
        iconBrandColor: '#0072c6',
        capabilities: [],
        publisher: 'exo-smtp-mailer',
        stackOwner: 'exo-smtp-mailer',
      },
    },
  };
}

/** How the files are written: two-space JSON and a final newline, so a regenerated file diffs cleanly. */
export const serialize = (document: unknown) => `${JSON.stringify(document, null, 2)}\n`;
