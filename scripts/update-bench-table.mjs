// Regenerates the benchmark table in docs/development.md from a results file (npm run bench:readme), by default
// bench/results.json as `npm run bench -- --json bench/results.json` wrote it. Refuses a file with a figure missing or
// not a number, or a ratio that is not product / baseline. test/bench-results.test.ts checks that the page's table is
// the one this makes from the committed file.
//   node scripts/update-bench-table.mjs [RESULTS_FILE]      (needs tsc's output: dist/bench/report.js)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
const require = createRequire(import.meta.url);
const { markdownTable, resultsProblems } = require('../dist/bench/report.js');
const resultsPath = resolve(process.argv[2] ?? new URL('../bench/results.json', import.meta.url).pathname);
const results = JSON.parse(readFileSync(resultsPath, 'utf8'));
const problems = resultsProblems(results);
if (problems.length) {
  console.error(`${resultsPath} is not a complete results file:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const path = new URL('../docs/development.md', import.meta.url);
const page = readFileSync(path, 'utf8');
const markers = /(<!-- bench-table:start -->\n)[\s\S]*?(<!-- bench-table:end -->)/;
if (!markers.test(page)) {
  console.error('docs/development.md has no <!-- bench-table:start --> … <!-- bench-table:end --> block');
  process.exit(1);
}
const updated = page.replace(markers, (_, start, end) => `${start}${markdownTable(results)}\n${end}`);
writeFileSync(path, updated);
console.log(
  updated === page
    ? 'docs/development.md benchmark table already up to date'
    : `docs/development.md benchmark table updated from ${resultsPath}`,
);
