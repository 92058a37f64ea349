import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { settingsTableMarkdown } from '../src/settings';
import { APP_ROOT } from '../src/host-settings';

test('the README configuration table is the one generated from the settings the code reads (npm run docs)', () => {
  const readme = readFileSync(join(APP_ROOT, 'README.md'), 'utf8');
  const table = /<!-- settings-table:start -->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(readme)?.[1];
  assert.equal(table, settingsTableMarkdown());
});
