// Benchmarks (npm run bench [-- NAME…] [--json FILE]). Every figure is printed with its baseline, measured in the
// same run on the same machine against the same local servers, and their ratio: absolute times depend on the machine,
// the ratios say what the product adds. One file per benchmark:
//
//   intake.ts            one request at a time through acceptMail vs one queue write
//   end-to-end.ts        N messages to the SMTP server: product vs the minimal exactly-once pipeline and raw nodemailer
//   storage-requests.ts  storage requests per sent message in a burst, by side and service, vs the minimal pipeline
//   memory.ts            peak memory and time for one large attachment, each side in its own process
//   in-flight.ts         peak memory of 12 large messages in flight at once in one worker, vs raw nodemailer and a 2 GB instance
//   real-limit.ts        one mailbox at 30 per window, 3 connections, time-scaled: deferrals and storage requests per
//                        message, pace and peak per sliding window at the server, backlogs of 100 and 1,000
//   scaling.ts           one mailbox's backlog at 30/min in real time: invocations held, instances target-based scaling asks for
//   cold-path.ts         process start → first 202 and → first message at SMTP, the bundle as the Functions worker loads it, vs eager
//   cold-start.ts        loading the functions in fresh processes vs every SDK imported eagerly; the package's size
//   soak.ts              20 mailboxes, 4 workers killed at random, Azurite restarted: lost, duplicates, windows, throughput
//
// Names select benchmarks (default: all). The benchmarks that need the local stack run first, on one stack; the
// ones that need none (cold start) run after it has stopped. --json FILE also writes every figure as numbers, with
// the run's machine and sizes (report.ts: Results); with --merge, a run of some benchmarks replaces only their rows
// in FILE and each benchmark keeps the date it was measured (the soak takes many minutes alone); `npm run bench:readme` makes the table in docs/development.md from
// bench/results.json. Sizes: BENCH_N (300), BENCH_INTAKE_N (300), BENCH_BURST (100), BENCH_ATTACHMENT_MB (20),
// BENCH_REPS (3), BENCH_COLD_N (9), BENCH_PACED_BACKLOG (100), BENCH_PACED_LARGE_BACKLOG (1000),
// BENCH_PACED_WINDOW_MS (6000); medians of the repetitions are reported.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { loadConfig } from '../src/config/load-config';
import { createAppServices } from '../src/hosting/app-services';
import { provisionStorage } from '../src/storage/provision';
import { startLocalStack } from '../sandbox/stack';
import { coldStart } from './cold-start';
import { coldPath } from './cold-path';
import { endToEnd } from './end-to-end';
import { intake } from './intake';
import { memory } from './memory';
import { inFlight } from './in-flight';
import { storageRequests } from './storage-requests';
import { realLimit } from './real-limit';
import { scaling } from './scaling';
import { soak } from './soak';
import { mergeResults, sizes, textTable, toRow, type BenchResult, type Results, type Row } from './report';
import { benchSettings, REPS, type BenchContext } from './runner';

/** Those with `stack` need the local stack and a product runtime on it; the others get nothing. */
type Benchmark = { stack: true; run: (ctx: BenchContext) => Promise<BenchResult> } | { stack: false; run: () => Promise<BenchResult> };

const BENCHMARKS: Record<string, Benchmark> = {
  intake: { stack: true, run: intake },
  'end-to-end': { stack: true, run: endToEnd },
  'storage-requests': { stack: true, run: storageRequests },
  memory: { stack: true, run: memory },
  'in-flight': { stack: true, run: inFlight },
  'real-limit': { stack: true, run: realLimit },
  scaling: { stack: true, run: scaling },
  'cold-path': { stack: true, run: coldPath },
  'cold-start': { stack: false, run: coldStart },
  soak: { stack: false, run: soak },
};

function parseArgs(args: string[]): { names: string[]; json?: string; merge: boolean } {
  const names: string[] = [];
  let json: string | undefined;
  let merge = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--merge') merge = true;
    else if (args[i] === '--json') {
      json = args[++i];
      if (!json || json.startsWith('-')) throw new Error('--json needs a file');
    } else if (args[i].startsWith('--json=')) json = args[i].slice('--json='.length);
    else if (args[i].startsWith('-')) throw new Error(`unknown option ${args[i]}; usage: run.js [NAME…] [--json FILE [--merge]]`);
    else names.push(args[i]);
  }
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHMARKS).join(', ')}`);
  if (merge && !json) throw new Error('--merge needs --json FILE');
  return { names, json, merge };
}

async function main(args: string[]): Promise<void> {
  const { names, json, merge } = parseArgs(args);
  const selected = Object.keys(BENCHMARKS).filter((n) => !names.length || names.includes(n));
  const started = Date.now();
  console.log(`Benchmark: node ${process.version}, ${cpus().length} CPUs; ${selected.join(', ')}.`);
  const rows: Row[] = [];
  const notes: string[] = [];
  const record = (name: string, result: BenchResult) => {
    rows.push(...result.rows.map((figure) => toRow(name, figure)));
    notes.push(...result.notes);
  };

  const onStack = selected.filter((n) => BENCHMARKS[n].stack);
  if (onStack.length) {
    const stack = await startLocalStack();
    const settings = benchSettings(stack);
    const config = loadConfig(settings);
    const runtime = createAppServices(config); // production settings: host.json queue settings, default lanes and policy
    try {
      await provisionStorage(config, runtime.storage);
      const ctx: BenchContext = { stack, settings, config, runtime, token: (await runtime.tokens.getToken()).token };
      console.log(`Local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
      for (const name of onStack) {
        const benchmark = BENCHMARKS[name];
        console.log(`${name} …`);
        if (benchmark.stack) record(name, await benchmark.run(ctx));
      }
    } finally {
      await runtime.close();
      await stack.stop();
    }
  }
  for (const name of selected) {
    const benchmark = BENCHMARKS[name];
    if (benchmark.stack) continue;
    console.log(`${name} …`);
    record(name, await benchmark.run());
  }

  const seconds = (Date.now() - started) / 1000;
  console.log(`
BENCHMARK  ${new Date().toISOString()}  (medians of ${REPS} runs; ratios product/baseline; took ${seconds.toFixed(0)} s)
${textTable(rows)}

${notes.join('\n')}`);
  if (json) {
    const results: Results = {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${platform()} ${arch()}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() || 'unknown',
      benchmarks: selected,
      reps: REPS,
      sizes: sizes(),
      seconds: Math.round(seconds),
      rows,
      notes,
    };
    const written =
      merge && existsSync(json)
        ? mergeResults(JSON.parse(readFileSync(json, 'utf8')) as Results, results, Object.keys(BENCHMARKS))
        : results;
    writeFileSync(json, `${JSON.stringify(written, null, 2)}\n`);
    console.log(`\nFigures written to ${json}.`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error) => {
    console.error(`Benchmark failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
