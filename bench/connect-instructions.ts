/**
 * Connect rate counted rather than timed (for reference, run only when named: `npm run bench --
 * connect-instructions`; needs `valgrind`; about 10 minutes): the cost per connection of the
 * connect-rate workload (`connect-and-close.ts`: sequential connect + close, client and server in
 * one process), rx-tcp against raw `node:net`, at both ends and then at one end at a time (the
 * other being raw), which tells the client's share from the server's.
 *
 * On the shared 2-core machines this suite runs on, timed rounds of the same build differ by 20%
 * and more; a count differs by a few percent, which makes it the measure to optimise against. Each
 * side runs under `valgrind --tool=cachegrind` with `node --single-threaded` (the compiler and the
 * garbage collector on the one thread counted, rather than partly on threads of their own) twice:
 * after the same warm-up, once with a short measured run and once with a long one; the difference
 * of the two totals, divided by the difference in connections, is the cost of one connection at
 * steady state, start-up and warm-up cancelled out. The warm-up is 20 k connections: V8 is still
 * optimising rx-tcp's side until about 16 k (`--trace-opt`).
 *
 * Two figures per configuration:
 * - instructions (user space);
 * - estimated cycles, from cachegrind's simulated caches and branch predictor: instructions / 2,
 *   plus 15 per first-level instruction-cache miss, 20 per first-level data-cache miss and 18 per
 *   mispredicted branch (round figures for this class of CPU, which exposes no counters in these
 *   VMs). Instructions alone understate rx-tcp's cost: it runs more distinct code per connection
 *   (RxJS, its own layers), whose cache misses and mispredictions cost more than its instructions.
 *   Measured: instructions gave 0.89x raw where the timed rate gave 0.80-0.85x, and the estimate
 *   0.77x.
 *
 * What it leaves out is the kernel's share, the same on both sides but for rx-tcp's one
 * `getpeername` per connection (the handler's `address`).
 */
import { type FigureResult, hasValgrind, QUICK, runChildOrMain, runUnderValgrind, type Side } from './common';
import { measureConnectRate } from './connect-and-close';

const WARM_UP = QUICK ? 2_000 : 20_000;
const SHORT = QUICK ? 500 : 3_000;
const LONG = QUICK ? 1_500 : 9_000;

/** Which end runs what: `server/client`, each `rx` or `raw`. */
type Ends = `${Side}/${Side}`;

/** In a counted child: warm up, then run `count` connections, then exit. */
async function countedRun(ends: Ends, count: number): Promise<void> {
  const [server, client] = ends.split('/') as [Side, Side];
  const run = measureConnectRate(server, client);
  await run(WARM_UP);
  await run(count);
}

/** What cachegrind counted in one run. */
interface Counts {
  instructions: number;
  cycles: number;
}

/** Cachegrind's totals, from its summary on stderr: instructions, L1 misses, mispredictions. */
function parseCounts(stderr: string): Counts | undefined {
  const total = (label: string): number | undefined => {
    const value = new RegExp(`${label}:\\s+([\\d,]+)`).exec(stderr)?.[1];
    return value === undefined ? undefined : Number(value.replaceAll(',', ''));
  };
  const instructions = total('I\\s+refs');
  const i1 = total('I1\\s+misses');
  const d1 = total('D1\\s+misses');
  const mispredicts = total('Mispredicts');
  if (instructions === undefined || i1 === undefined || d1 === undefined || mispredicts === undefined)
    return undefined;
  return { instructions, cycles: estimatedCycles({ instructions, i1, d1, mispredicts }) };
}

/**
 * Cycles estimated from what valgrind simulates: instructions / 2, plus 15 per first-level
 * instruction-cache miss, 20 per first-level data-cache miss and 18 per mispredicted branch.
 */
export function estimatedCycles(counted: {
  instructions: number;
  i1: number;
  d1: number;
  mispredicts: number;
}): number {
  return counted.instructions / 2 + 15 * counted.i1 + 20 * counted.d1 + 18 * counted.mispredicts;
}

/** Cachegrind's counts for one child run of `ends` with `count` measured connections. */
async function counts(ends: Ends, count: number): Promise<Counts> {
  const run = await runUnderValgrind(
    __filename,
    `count-${ends}`,
    ['--tool=cachegrind', '--cache-sim=yes', '--branch-sim=yes', '--cachegrind-out-file=/dev/null'],
    [],
    { BENCH_COUNT: String(count) },
  );
  const counted = parseCounts(run.stderr);
  if (run.code !== 0 || counted === undefined)
    throw new Error(`valgrind (${ends}, ${count}) failed:\n${run.stderr}`);
  return counted;
}

/** Counts per connection with `ends`: its two runs in parallel, one per core. */
async function perConnection(ends: Ends): Promise<Counts> {
  const [short, long] = await Promise.all([counts(ends, SHORT), counts(ends, LONG)]);
  const n = LONG - SHORT;
  return {
    instructions: (long.instructions - short.instructions) / n,
    cycles: (long.cycles - short.cycles) / n,
  };
}

const ROWS: { figure: string; ends: Ends }[] = [
  { figure: 'connect rate, per connection (reference)', ends: 'rx/rx' },
  { figure: '… of which rx-tcp client, raw server', ends: 'raw/rx' },
  { figure: '… of which rx-tcp server, raw client', ends: 'rx/raw' },
];

const MEASURES: { name: string; unit: string; of: (counts: Counts) => number }[] = [
  { name: 'instructions', unit: 'instr/conn', of: (counted) => counted.instructions },
  { name: 'estimated cycles', unit: 'cycles/conn', of: (counted) => counted.cycles },
];

async function main(): Promise<FigureResult[]> {
  console.log(
    `connect rate, counted: instructions and estimated cycles per connection (${LONG - SHORT} connections after ${WARM_UP})`,
  );
  if (!hasValgrind()) {
    console.log('  skipped: valgrind is not installed');
    return [];
  }
  const raw = await perConnection('raw/raw');
  console.log(
    `  raw server, raw client: ${raw.instructions.toFixed(0)} instructions, ${raw.cycles.toFixed(0)} cycles`,
  );
  const results: FigureResult[] = [];
  for (const { figure, ends } of ROWS) {
    const rx = await perConnection(ends);
    const [server, client] = ends.split('/');
    for (const { name, unit, of } of MEASURES) {
      const ratio = of(rx) / of(raw);
      console.log(
        `  ${server} server, ${client} client, ${name}: ${of(rx).toFixed(0)}  (${ratio.toFixed(3)}x raw; raw/rx ${(1 / ratio).toFixed(3)}, to compare with the connect rate)`,
      );
      results.push({
        figure: `${figure}, ${name}`,
        unit,
        rx: of(rx),
        raw: of(raw),
        ratio,
        target: 'none (for reference)',
        met: null,
        noise: { rx: Number.NaN, raw: Number.NaN },
        rounds: 1,
        notes: ['valgrind cachegrind, node --single-threaded; user space only; lower is better'],
      });
    }
  }
  return results;
}

runChildOrMain(module, 'count-', (ends) => countedRun(ends as Ends, Number(process.env.BENCH_COUNT)), main);
