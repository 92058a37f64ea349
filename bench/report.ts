// The benchmark report: the rows every benchmark returns (numbers, never preformatted text), the results file
// `npm run bench -- --json FILE` writes, and the two renderings made from the same rows: the text table the run
// prints and the Markdown table in docs/development.md (npm run bench:readme). No dependencies, so the table's generator and
// its test load it without the benchmarks' SDKs.

/** How a figure is measured; the text of each row is formatted from its unit. */
export type Unit =
  | 'ms'
  | 'messages'
  | 'msg/s'
  | 'bytes'
  | 'files'
  | 'requests/message'
  | 'deferrals/message'
  | 'messages/window'
  | 'peak RSS/attachment size'
  | 'share of a 2 GB instance'
  | 'invocations'
  | 'instances';

/** One figure of a benchmark beside its baseline, measured in the same run. */
export interface Row {
  /** The benchmark that measured it (the name that selects it: npm run bench -- NAME). */
  benchmark: string;
  measurement: string;
  unit: Unit;
  baseline: { name: string; value: number };
  product: { value: number };
  /** product.value / baseline.value. */
  ratio: number;
  /** Which way is better for the product. */
  better: 'lower' | 'higher';
  /** The parts behind a figure (by side, by service), in the row's unit; shown beside the figure they make up. */
  details?: { baseline?: Record<string, number>; product?: Record<string, number> };
}

/** A row as a benchmark returns it: run.ts fills in the benchmark's name; the ratio is computed here. */
export type Figure = Omit<Row, 'benchmark' | 'ratio'>;

export interface BenchResult {
  rows: Figure[];
  notes: string[];
}

/** What `--json FILE` writes. */
export interface Results {
  /** When the run ended (ISO 8601). */
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  /** The benchmarks this run ran, in order. */
  benchmarks: string[];
  /** Repetitions of each timed benchmark (BENCH_REPS); medians are reported. */
  reps: number;
  /** Every size read from the environment (BENCH_N, BENCH_REPS, …), with the value this run used. */
  sizes: Record<string, number>;
  /** Wall time of the whole run (of the runs, when merged). */
  seconds: number;
  /**
   * When each benchmark's rows were measured, once results of separate runs are merged (--merge): a benchmark that
   * takes many minutes (the soak) is rerun alone and its rows replace only its own.
   */
  dates?: Record<string, string>;
  rows: Row[];
  notes: string[];
}

const sizesRead: Record<string, number> = {};

/** A whole number ≥ 1 from the environment; recorded for the results file. */
export function envInt(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1`);
  sizesRead[name] = value;
  return value;
}

/** The sizes read so far through envInt, by name. */
export const sizes = (): Record<string, number> => Object.fromEntries(Object.entries(sizesRead).sort(([a], [b]) => a.localeCompare(b)));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function toRow(benchmark: string, figure: Figure): Row {
  return { benchmark, ...figure, ratio: figure.product.value / figure.baseline.value };
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

export function formatValue(value: number, unit: Unit): string {
  switch (unit) {
    case 'ms':
      return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(2)} ms`;
    case 'msg/s':
      return `${value.toFixed(0)} msg/s`;
    case 'bytes':
      return `${(value / 1048576).toFixed(1)} MB`;
    case 'files':
    case 'messages':
      return value.toLocaleString('en');
    case 'requests/message':
    case 'deferrals/message':
    case 'messages/window':
    case 'peak RSS/attachment size':
      return value.toFixed(2);
    case 'share of a 2 GB instance':
      return `${(value * 100).toFixed(1)} %`;
    case 'invocations':
    case 'instances':
      return value.toFixed(1);
  }
}

/** Two decimals; two significant digits below 0.1, so a ratio far under 1 does not show as ×0.00. */
export const formatRatio = (ratio: number) => `×${ratio >= 0.095 ? ratio.toFixed(2) : ratio.toPrecision(2)}`;

/** A figure, with its parts in brackets when it has any. */
function figure(value: number, unit: Unit, parts: Record<string, number> = {}): string {
  const text = Object.entries(parts)
    .map(([k, v]) => `${k} ${formatValue(v, unit)}`)
    .join(', ');
  return formatValue(value, unit) + (text ? ` (${text})` : '');
}

/** The cells of a row, as both tables show them. */
function cells(row: Row): string[] {
  return [
    row.benchmark,
    row.measurement,
    row.baseline.name,
    figure(row.baseline.value, row.unit, row.details?.baseline),
    figure(row.product.value, row.unit, row.details?.product),
    formatRatio(row.ratio),
    row.better,
  ];
}

const HEADER = ['benchmark', 'measurement', 'baseline', 'baseline value', 'product', 'product / baseline', 'better'];

/** The table the run prints. */
export function textTable(rows: Row[]): string {
  const all = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('   ')
      .trimEnd();
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('   '), ...rows.map((r) => line(cells(r)))].join('\n');
}

/** The table in docs/development.md (between <!-- bench-table:start --> and <!-- bench-table:end -->), with the run it came from. */
export function markdownTable(results: Results): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const sizeText = Object.entries(results.sizes)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const cold = results.sizes.BENCH_COLD_N;
  const coldRuns = results.benchmarks.includes('cold-start') && cold ? ` (cold start: of ${cold} fresh processes per loading)` : '';
  const byDate = new Map<string, string[]>();
  for (const name of results.benchmarks) {
    const day = (results.dates?.[name] ?? results.date).slice(0, 10);
    byDate.set(day, [...(byDate.get(day) ?? []), name]);
  }
  const runs =
    byDate.size > 1
      ? `Runs of ${[...byDate].map(([day, names]) => `${day} (${names.join(', ')})`).join(' and ')}`
      : `Run of ${results.date.slice(0, 10)}`;
  return [
    `${runs}: node ${results.node}, ${results.platform}, ${results.cpus} CPUs (${results.cpuModel}); ` +
      `medians of ${results.reps} repetitions${coldRuns}; ${sizeText}; ${Math.round(results.seconds)} s in all.`,
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((h) => (h === 'product / baseline' ? '---:' : '---')).join('|')}|`,
    ...results.rows.map((row) => `| ${cells(row).map(escape).join(' | ')} |`),
  ].join('\n');
}

/**
 * A run's results merged into an earlier results file: the rows of the benchmarks the run measured replace theirs,
 * the others stay, each benchmark keeps the date it was measured, in the order of `order` (the benchmarks' names).
 */
export function mergeResults(earlier: Results, run: Results, order: readonly string[]): Results {
  const ran = new Set(run.benchmarks);
  const benchmarks = order.filter((name) => ran.has(name) || earlier.benchmarks.includes(name));
  const rank = (row: Row) => benchmarks.indexOf(row.benchmark);
  const rows = [...earlier.rows.filter((row) => !ran.has(row.benchmark)), ...run.rows].sort((a, b) => rank(a) - rank(b));
  const dates = Object.fromEntries(benchmarks.map((name) => [name, ran.has(name) ? run.date : (earlier.dates?.[name] ?? earlier.date)]));
  return {
    ...run,
    benchmarks,
    sizes: Object.fromEntries(Object.entries({ ...earlier.sizes, ...run.sizes }).sort(([a], [b]) => a.localeCompare(b))),
    seconds: earlier.seconds + run.seconds,
    rows,
    notes: [...earlier.notes, ...run.notes],
    dates,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Checking a results file (the table's test and its generator use it)

/** What is wrong with a results file: every field present, every figure a finite number, ratio = product / baseline. */
export function resultsProblems(results: unknown): string[] {
  const problems: string[] = [];
  const r = results as Partial<Results> | null;
  if (!r || typeof r !== 'object') return ['not an object'];
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const text = (v: unknown) => typeof v === 'string' && v.length > 0;
  if (!text(r.date) || Number.isNaN(Date.parse(r.date!))) problems.push('date is not a date');
  for (const key of ['node', 'platform', 'cpuModel'] as const) if (!text(r[key])) problems.push(`${key} is missing`);
  for (const key of ['cpus', 'reps', 'seconds'] as const) if (!finite(r[key])) problems.push(`${key} is not a number`);
  if (!r.sizes || typeof r.sizes !== 'object' || Object.values(r.sizes).some((v) => !finite(v))) problems.push('sizes are not all numbers');
  if (!Array.isArray(r.benchmarks) || !r.benchmarks.every(text)) problems.push('benchmarks is not a list of names');
  if (!Array.isArray(r.notes)) problems.push('notes is not a list');
  if (r.dates !== undefined) {
    const dated = r.dates && typeof r.dates === 'object' ? Object.entries(r.dates) : [['', '']];
    if (dated.some(([name, date]) => !r.benchmarks?.includes(name) || !text(date) || Number.isNaN(Date.parse(date))))
      problems.push('dates are not dates of the benchmarks run');
  }
  if (!Array.isArray(r.rows) || r.rows.length === 0) return [...problems, 'no rows'];
  r.rows.forEach((row: Partial<Row>, i) => {
    const at = `row ${i} (${row?.benchmark}: ${row?.measurement})`;
    if (!text(row.benchmark) || !r.benchmarks?.includes(row.benchmark!)) problems.push(`${at}: benchmark not among the run's benchmarks`);
    if (!text(row.measurement)) problems.push(`${at}: no measurement`);
    if (!text(row.unit) || !UNITS.includes(row.unit!)) problems.push(`${at}: unit ${row.unit} is not one of ${UNITS.join(', ')}`);
    if (!text(row.baseline?.name)) problems.push(`${at}: baseline has no name`);
    if (!finite(row.baseline?.value) || row.baseline!.value <= 0) problems.push(`${at}: baseline value is not a positive number`);
    if (!finite(row.product?.value)) problems.push(`${at}: product value is not a number`);
    if (!finite(row.ratio)) problems.push(`${at}: ratio is not a number`);
    else if (finite(row.product?.value) && finite(row.baseline?.value)) {
      const expected = row.product!.value / row.baseline!.value;
      if (Math.abs(row.ratio! - expected) > 1e-9 * Math.max(1, Math.abs(expected)))
        problems.push(`${at}: ratio ${row.ratio} is not product / baseline (${expected})`);
    }
    if (row.better !== 'lower' && row.better !== 'higher') problems.push(`${at}: better is neither lower nor higher`);
    if (row.details !== undefined) {
      const parts = typeof row.details === 'object' && row.details ? Object.entries(row.details) : [['', null]];
      if (parts.some(([side, p]) => !['baseline', 'product'].includes(side as string) || !p || !Object.values(p).every(finite)))
        problems.push(`${at}: details are not numbers by baseline and product`);
    }
  });
  return problems;
}

const UNITS: string[] = [
  'ms',
  'messages',
  'msg/s',
  'bytes',
  'files',
  'requests/message',
  'deferrals/message',
  'messages/window',
  'peak RSS/attachment size',
  'share of a 2 GB instance',
  'invocations',
  'instances',
] satisfies Unit[];
