/**
 * Where the connect rate's cycles go, function by function (for reference, run only when named:
 * `npm run bench -- connect-profile`; needs valgrind; about 1.5 minutes): the connect-rate workload
 * (`connect-and-close.ts`) with rx-tcp at both ends, then raw `node:net` at both ends, each under
 * valgrind's callgrind, and the functions whose estimated cycles per connection differ most.
 *
 * `connect-instructions` says how much a connection costs; this says where. How it counts:
 * - The warm-up runs uncounted (`--instr-atstart=no`) on four fresh servers in turn: the first
 *   connections on a new server deoptimise a few functions, which are optimised again by the
 *   fourth. Counting is switched on (`callgrind_control -i on`) for the measured connections only,
 *   so one run per side gives the cost at steady state.
 * - Code V8 compiles has no symbols: `node --perf-basic-prof` writes where each function's machine
 *   code lies, and `--no-compact-code-space` keeps it there, so callgrind's addresses can be named.
 *   Inlined functions count in the function they were inlined into.
 * - The cost is the same estimate as `connect-instructions`' (instructions, first-level cache
 *   misses, mispredicted branches), per function, self cost only.
 * Two runs of one build differed by about 1% in total (rx-tcp 395.8–398.4 k, raw 318.9–322.3 k),
 * mostly in the garbage collector, which is shown apart.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type FigureResult, hasValgrind, QUICK, runChildOrMain, runUnderValgrind, type Side } from './common';
import { measureConnectRate } from './connect-and-close';
import { estimatedCycles } from './connect-instructions';

const WARM_UP_RUNS = 4;
const WARM_UP_RUN = QUICK ? 500 : 5_000;
const COUNTED = QUICK ? 1_000 : 6_000;
const SHOWN = 30;

/** In a profiled child: warm up uncounted on fresh servers, then count `COUNTED` connections. */
async function profiledRun(side: Side): Promise<void> {
  const run = measureConnectRate(side, side);
  for (let i = 0; i < WARM_UP_RUNS; i++) await run(WARM_UP_RUN);
  execFileSync('callgrind_control', ['--instr=on', String(process.pid)], { stdio: 'ignore' });
  await run(COUNTED);
  execFileSync('callgrind_control', ['--instr=off', String(process.pid)], { stdio: 'ignore' });
}

/** Callgrind's events for one function, summed. */
type Costs = Map<string, number>;

/** One function's self cost, by event name, from a callgrind output file (`calls=` lines skipped). */
function selfCosts(file: string): Map<string, Costs> {
  const lines = readFileSync(file, 'utf8').split('\n');
  let events: string[] = [];
  let positions = 1;
  const names = new Map<string, string>();
  const byFunction = new Map<string, Costs>();
  let current: Costs | undefined;
  let skipNext = false;
  for (const line of lines) {
    const first = line.charCodeAt(0);
    // A cost line starts with a position: a number, or +, - or * (relative to the previous one).
    if ((first >= 48 && first <= 57) || first === 43 || first === 45 || first === 42) {
      if (skipNext) {
        skipNext = false; // the inclusive cost of a call, not the caller's own
        continue;
      }
      const fields = line.split(' ');
      for (let i = positions; i < fields.length; i++) {
        const event = events[i - positions];
        current?.set(event, (current.get(event) ?? 0) + Number(fields[i]));
      }
    } else if (line.startsWith('fn=')) {
      const name = compressedName(line.slice(3), names);
      current = byFunction.get(name) ?? new Map();
      byFunction.set(name, current);
    } else if (line.startsWith('cfn=')) {
      compressedName(line.slice(4), names);
    } else if (line.startsWith('calls=')) {
      skipNext = true;
    } else if (line.startsWith('events:')) {
      events = line.slice(7).trim().split(' ');
    } else if (line.startsWith('positions:')) {
      positions = line.slice(10).trim().split(' ').length;
    }
  }
  return byFunction;
}

/** Callgrind writes `(id) name` the first time a name is used and `(id)` after. */
function compressedName(text: string, names: Map<string, string>): string {
  const match = /^\((\d+)\)(?: (.*))?$/.exec(text.trim());
  if (match === null) return text.trim();
  if (match[2] !== undefined) names.set(match[1], match[2]);
  return names.get(match[1]) ?? text;
}

/** Names machine-code addresses from a `--perf-basic-prof` map: the last function written there wins. */
function codeNamer(mapFile: string): (address: number) => string | undefined {
  const entries = readFileSync(mapFile, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line, order) => {
      const [start, size, ...name] = line.split(' ');
      const from = Number.parseInt(start, 16);
      return { start: from, end: from + Number.parseInt(size, 16), name: name.join(' '), order };
    })
    .sort((a, b) => a.start - b.start);
  return (address) => {
    let best: (typeof entries)[number] | undefined;
    // Entries are short and rarely overlap: look back from the last one starting at or before it.
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (entries[middle].start <= address) low = middle + 1;
      else high = middle;
    }
    for (let i = low - 1; i >= 0 && i >= low - 64; i--) {
      const entry = entries[i];
      if (address < entry.end && (best === undefined || entry.order > best.order)) best = entry;
    }
    return best?.name;
  };
}

/** A function's readable name: JavaScript without its tier marker and with paths shortened. */
function readable(name: string, nameCode: (address: number) => string | undefined): string {
  const code = /^0x[0-9a-f]+$/.test(name) ? nameCode(Number.parseInt(name, 16)) : undefined;
  const shown = code === undefined ? name : `JS ${code.replace(/^JS:[*~^+]?/, '')}`;
  return shown.replace(/\S*\/(src|bench|node_modules\/rxjs\/dist\/cjs\/internal)\//g, '$1/');
}

/** What a function is: rx-tcp's, RxJS's, Node's, V8's runtime, … */
function kind(name: string): string {
  if (name.startsWith('JS ')) {
    if (/ src\//.test(name)) return "rx-tcp's JavaScript";
    if (/ bench\//.test(name)) return "the bench's JavaScript (its loop, firstValueFrom, …)";
    if (/ node_modules\/rxjs\//.test(name)) return 'RxJS';
    return "Node's JavaScript";
  }
  if (/compiler::|Compil|Pipeline/.test(name)) return 'V8 optimising compiler';
  if (/Scaveng|Mark|Sweep|Heap|heap::|Evacuat|Concurrent/.test(name)) return 'garbage collector';
  if (name.startsWith('Builtins_')) return 'V8 built-ins (inline caches, allocation, calls)';
  if (name.includes('v8::')) return 'V8 runtime';
  if (name.startsWith('node::')) return "Node's C++";
  return 'libuv, libc and other native code';
}

/** Estimated cycles per connection by readable function name, for one side. */
async function profile(side: Side): Promise<Map<string, number>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rx-tcp-profile-'));
  const out = path.join(dir, 'callgrind.out');
  let mapFile: string | undefined;
  try {
    const run = await runUnderValgrind(
      __filename,
      `profile-${side}`,
      [
        '--tool=callgrind',
        '--instr-atstart=no',
        '--dump-instr=yes', // one function per address range, so that JIT code can be named
        '--cache-sim=yes',
        '--branch-sim=yes',
        `--callgrind-out-file=${out}`,
      ],
      [
        '--perf-basic-prof',
        '--no-compact-code-space',
        // --perf-basic-prof also writes V8's log: into the temporary directory rather than here.
        '--no-logfile-per-isolate',
        `--logfile=${path.join(dir, 'v8.log')}`,
      ],
    );
    mapFile = path.join(tmpdir(), `perf-${run.pid}.map`);
    if (run.code !== 0) throw new Error(`valgrind (${side}) failed:\n${run.stderr}`);
    const nameCode = codeNamer(mapFile);
    const cycles = new Map<string, number>();
    for (const [name, costs] of selfCosts(out)) {
      const event = (e: string) => costs.get(e) ?? 0;
      const shown = readable(name, nameCode);
      const estimate = estimatedCycles({
        instructions: event('Ir'),
        i1: event('I1mr'),
        d1: event('D1mr') + event('D1mw'),
        mispredicts: event('Bcm') + event('Bim'),
      });
      cycles.set(shown, (cycles.get(shown) ?? 0) + estimate / COUNTED);
    }
    return cycles;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (mapFile !== undefined) rmSync(mapFile, { force: true });
  }
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

const k = (cycles: number) => `${(cycles / 1000).toFixed(1)} k`;

async function main(): Promise<FigureResult[]> {
  console.log(
    `connect rate, profiled: estimated cycles per connection, by function (${COUNTED} connections after ${WARM_UP_RUNS} x ${WARM_UP_RUN})`,
  );
  if (!hasValgrind()) {
    console.log('  skipped: valgrind is not installed');
    return [];
  }
  const [rx, raw] = await Promise.all([profile('rx'), profile('raw')]);
  const total = { rx: sum(rx.values()), raw: sum(raw.values()) };
  console.log(`  total: rx-tcp ${k(total.rx)}, raw ${k(total.raw)} (${(total.rx / total.raw).toFixed(3)}x)`);
  const kinds = new Map<string, { rx: number; raw: number }>();
  for (const [costs, side] of [
    [rx, 'rx'],
    [raw, 'raw'],
  ] as const) {
    for (const [name, cycles] of costs) {
      const entry = kinds.get(kind(name)) ?? { rx: 0, raw: 0 };
      entry[side] += cycles;
      kinds.set(kind(name), entry);
    }
  }
  console.log('  by kind of code (rx-tcp, raw, difference):');
  for (const [name, { rx: r, raw: w }] of [...kinds].sort(
    (a, b) => b[1].rx - b[1].raw - (a[1].rx - a[1].raw),
  )) {
    console.log(`    ${k(r).padStart(9)} ${k(w).padStart(9)} ${k(r - w).padStart(9)}  ${name}`);
  }
  console.log(`  the ${SHOWN} functions costing rx-tcp most beyond raw (rx-tcp, raw, difference):`);
  const names = new Set([...rx.keys(), ...raw.keys()]);
  const differences = [...names].map((name) => ({ name, rx: rx.get(name) ?? 0, raw: raw.get(name) ?? 0 }));
  differences.sort((a, b) => b.rx - b.raw - (a.rx - a.raw));
  for (const { name, rx: r, raw: w } of differences.slice(0, SHOWN)) {
    console.log(`    ${k(r).padStart(9)} ${k(w).padStart(9)} ${k(r - w).padStart(9)}  ${name.slice(0, 100)}`);
  }
  return [
    {
      figure: 'connect rate, profiled, estimated cycles (reference)',
      unit: 'cycles/conn',
      rx: total.rx,
      raw: total.raw,
      ratio: total.rx / total.raw,
      target: 'none (for reference)',
      met: null,
      noise: { rx: Number.NaN, raw: Number.NaN },
      rounds: 1,
      notes: ['valgrind callgrind, node --single-threaded; user space only; lower is better'],
    },
  ];
}

runChildOrMain(module, 'profile-', (side) => profiledRun(side as Side), main);
