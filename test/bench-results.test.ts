import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdownTable, mergeResults, resultsProblems, type Results } from '../bench/report';
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

test('merging a run of some benchmarks replaces only their rows, keeps the others with their dates, and the table names both runs', () => {
  const [kept, rerun] = results.benchmarks;
  const run: Results = {
    ...results,
    date: '2030-01-02T03:04:05.000Z',
    benchmarks: [rerun],
    sizes: { BENCH_NEW_SIZE: 7 },
    seconds: 10,
    rows: [{ ...results.rows.find((row) => row.benchmark === rerun)!, product: { value: 1 }, ratio: 1, baseline: { name: 'b', value: 1 } }],
    notes: ['the rerun'],
  };
  const merged = mergeResults(results, run, results.benchmarks);
  assert.deepEqual(resultsProblems(merged), []);
  assert.deepEqual(merged.benchmarks, results.benchmarks, 'every benchmark, in their order');
  assert.deepEqual(
    merged.rows.filter((row) => row.benchmark === rerun),
    run.rows,
    "the rerun benchmark's rows are the run's alone",
  );
  assert.deepEqual(
    merged.rows.filter((row) => row.benchmark === kept),
    results.rows.filter((row) => row.benchmark === kept),
    'the other rows stay',
  );
  assert.equal(merged.dates?.[rerun], run.date);
  assert.equal(merged.dates?.[kept], results.dates?.[kept] ?? results.date);
  assert.equal(merged.sizes.BENCH_NEW_SIZE, 7);
  assert.match(markdownTable(merged), /^Runs of .*2030-01-02 \(/);
});
