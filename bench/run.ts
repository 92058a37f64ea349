// Benchmarks (npm run bench [-- NAME…]). Every figure is printed with its baseline, measured in the same run on the
// same machine against the same local servers, and their ratio: absolute times depend on the machine, the ratios
// say what the product adds. One file per benchmark:
//
//   intake.ts            one request at a time through acceptMail vs one queue write
//   end-to-end.ts        N messages to the SMTP server: product vs the minimal exactly-once pipeline and raw nodemailer
//   storage-requests.ts  storage requests per sent message in a burst, by side and service, vs the minimal pipeline
//   memory.ts            peak memory and time for one large attachment, each side in its own process
//
// Names select benchmarks (default: all). Sizes: BENCH_N (300), BENCH_INTAKE_N (300), BENCH_BURST (100),
// BENCH_ATTACHMENT_MB (20), BENCH_REPS (3); medians of the repetitions are reported.
import { cpus } from 'node:os';
import { loadConfig } from '../src/config';
import { createRuntime } from '../src/runtime';
import { provisionStorage } from '../src/storage/provision';
import { startLocalStack } from '../src/local/stack';
import { endToEnd } from './end-to-end';
import { intake } from './intake';
import { memory } from './memory';
import { storageRequests } from './storage-requests';
import { benchSettings, REPS, table, type BenchContext, type Row } from './runner';

const BENCHMARKS: Record<string, (ctx: BenchContext) => Promise<{ rows: Row[]; notes: string[] }>> = {
  intake,
  'end-to-end': endToEnd,
  'storage-requests': storageRequests,
  memory,
};

async function main(names: string[]): Promise<void> {
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHMARKS).join(', ')}`);
  const selected = names.length ? names : Object.keys(BENCHMARKS);
  const started = Date.now();
  const stack = await startLocalStack();
  const settings = benchSettings(stack);
  const config = loadConfig(settings);
  const runtime = createRuntime(config); // production settings: host.json queue settings, default lanes and policy
  try {
    await provisionStorage(config, runtime.storage);
    const ctx: BenchContext = { stack, settings, config, runtime, token: (await runtime.tokens.getToken()).token };
    console.log(
      `Benchmark: node ${process.version}, ${cpus().length} CPUs; local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
    );
    const rows: Row[] = [];
    const notes: string[] = [];
    for (const name of selected) {
      console.log(`${name} …`);
      const result = await BENCHMARKS[name](ctx);
      rows.push(...result.rows);
      notes.push(...result.notes);
    }
    console.log(`
BENCHMARK  ${new Date().toISOString()}  (medians of ${REPS} runs; ratios product/baseline; took ${((Date.now() - started) / 1000).toFixed(0)} s)
${table(rows)}

${notes.join('\n')}`);
  } finally {
    await runtime.close();
    await stack.stop();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error) => {
    console.error(`Benchmark failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
