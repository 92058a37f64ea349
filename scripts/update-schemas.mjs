// Writes schemas/outbox-envelope.schema.json, the queue message's JSON Schema for producers, from the zod schema the
// worker validates with (npm run schemas). test/producer.test.ts fails when the file differs from the code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { envelopeJsonSchema } = require('../dist/generators/envelope-schema.js');
const dir = new URL('../schemas/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('outbox-envelope.schema.json', dir), `${JSON.stringify(envelopeJsonSchema(), null, 2)}\n`);
console.log('schemas/outbox-envelope.schema.json written');
