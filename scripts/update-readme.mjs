// Regenerates the configuration table in README.md from src/config.ts (npm run docs).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { settingsTableMarkdown } = require('../dist/src/settings.js');
const path = new URL('../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const updated = readme.replace(
  /(<!-- settings-table:start -->\n)[\s\S]*?(<!-- settings-table:end -->)/,
  `$1${settingsTableMarkdown()}\n$2`,
);
writeFileSync(path, updated);
console.log(updated === readme ? 'README.md already up to date' : 'README.md configuration table updated');
