// Regenerates the configuration table in docs/configuration.md from src/config/app-settings.ts (npm run docs).
// test/readme.test.ts checks that the page's table is the one this makes.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { settingsTableMarkdown } = require('../dist/src/config/app-settings.js');
const path = new URL('../docs/configuration.md', import.meta.url);
const page = readFileSync(path, 'utf8');
const markers = /(<!-- settings-table:start -->\n)[\s\S]*?(<!-- settings-table:end -->)/;
if (!markers.test(page)) {
  console.error('docs/configuration.md has no <!-- settings-table:start --> … <!-- settings-table:end --> block');
  process.exit(1);
}
const updated = page.replace(markers, (_, start, end) => `${start}${settingsTableMarkdown()}\n${end}`);
writeFileSync(path, updated);
console.log(updated === page ? 'docs/configuration.md already up to date' : 'docs/configuration.md configuration table updated');
