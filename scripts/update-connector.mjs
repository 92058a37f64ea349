// Writes the Power Platform custom connector files (connector/) from the app's OpenAPI 2.0 document (npm run connector).
//   node scripts/update-connector.mjs [--host <app>.azurewebsites.net]
// The checked-in files use the placeholder host; test/hooks-connector.test.ts fails when they differ from the code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { connectorFiles, serialize } = require('../dist/generators/connector.js');
const at = process.argv.indexOf('--host');
const files = connectorFiles(at > 0 ? process.argv[at + 1] : undefined);
const dir = new URL('../connector/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [name, document] of Object.entries(files)) writeFileSync(new URL(name, dir), serialize(document));
console.log(`connector/: ${Object.keys(files).join(', ')} written`);
