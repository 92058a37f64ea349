import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdownTable, resultsProblems, type Results } from '../bench/report';
import { APP_ROOT } from '../src/app-root';

const results = JSON.parse(readFileSync(join(APP_ROOT, 'bench', 'results.json'), 'utf8')) as Results;

test('the committed benchmark results have every field: numbers, a named baseline, ratio = product / baseline', () => {
  assert.deepEqual(resultsProblems(results), []);
});

test('the benchmark table in docs/development.md is the one generated from bench/results.json (npm run bench:readme)', () => {
  const page = readFileSync(join(APP_ROOT, 'docs', 'development.md'), 'utf8');
  const table = /<!-- bench-table:start -->\n([\s\S]*?)\n<!-- bench-table:end -->/.exec(page)?.[1];
  assert.equal(table, markdownTable(results));
});

test('the results check finds a figure that is not a number, a wrong ratio and a missing field', () => {
  const broken = structuredClone(results) as unknown as Record<string, any>;
  broken.rows[0].product.value = String(broken.rows[0].product.value);
  broken.rows[1].ratio *= 1.01;
  delete broken.rows[2].better;
  delete broken.node;
  const problems = resultsProblems(broken);
  assert.equal(problems.length, 4, problems.join('\n'));
  assert.match(problems.join('\n'), /node is missing/);
  assert.match(problems.join('\n'), /row 0 .*product value is not a number/);
  assert.match(problems.join('\n'), /row 1 .*ratio .* is not product \/ baseline/);
  assert.match(problems.join('\n'), /row 2 .*better/);
});
