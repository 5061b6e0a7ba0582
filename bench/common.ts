/**
 * What every figure of the benchmark suite shares: the quick/full switch, alternating rounds,
 * medians and ratios, the result line `bench/index.ts` collects, the `main` of a figure whose sides
 * each run in their own process, and child processes running a bench script in a given role (for
 * the memory figures, where the measured process must hold nothing but the side being measured).
 * The servers and clients the figures measure are in `bench/servers.ts`.
 */
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/** `BENCH_QUICK=1`: every size scaled down, fewer rounds; a smoke test, not a measurement. */
export const QUICK = process.env.BENCH_QUICK === '1';

/**
 * Rounds of the figures whose runs last a few seconds each (bulk echo, ping-pong, connect rate):
 * more than the default 5, since this kind of machine drifts by ±20% over tens of seconds.
 */
export const SECONDS_LONG_ROUNDS = 7;

/** Rounds per figure: `BENCH_ROUNDS`, else `full` (or 3 with `BENCH_QUICK=1`). */
export function roundsOr(full: number): number {
  const asked = Number(process.env.BENCH_ROUNDS);
  if (Number.isInteger(asked) && asked > 0) return asked;
  return QUICK ? Math.min(3, full) : full;
}

/** `full` by default, `quick` with `BENCH_QUICK=1`. */
export function sized<T>(full: T, quick: T): T {
  return QUICK ? quick : full;
}

/** A full garbage collection, whether or not node was started with `--expose-gc`. */
export const gc: () => void =
  global.gc ??
  (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  })();

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** How far the samples spread around their median: (max - min) / median. */
export function spread(values: number[]): number {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

/** Seconds since `start` (from `process.hrtime.bigint()`). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** One row of the summary table. */
export interface FigureResult {
  figure: string;
  /** What one sample measures, e.g. `MB/s`. */
  unit: string;
  rx: number;
  raw: number;
  /** rx / raw. */
  ratio: number;
  /** The target as text, e.g. `>= 0.95x`. */
  target: string;
  /** Whether the target is met; `null` for a figure shown for reference, with no target. */
  met: boolean | null;
  /** Spread of the rx-tcp and the raw samples, (max - min) / median. */
  noise: { rx: number; raw: number };
  rounds: number;
  /** Extra lines for the report (what exactly was measured). */
  notes?: string[];
}

export type Side = 'rx' | 'raw';

/** Which side goes first in `round`: rx-tcp in even rounds, raw in odd ones. */
export function sideOrder(round: number): Side[] {
  return round % 2 === 0 ? ['rx', 'raw'] : ['raw', 'rx'];
}

/**
 * Runs `measure` for both sides in this process, `rounds` times, alternating which side goes
 * first, after one unmeasured warm-up run of each (`warmUp`, when given, is used for it instead).
 * The figures of this suite use {@link alternateSides}, which keeps each side in its own process.
 */
export async function alternate(
  rounds: number,
  measure: (side: Side, round: number) => Promise<number>,
  warmUp?: (side: Side) => Promise<unknown>,
): Promise<Record<Side, number[]>> {
  const samples: Record<Side, number[]> = { rx: [], raw: [] };
  for (const side of ['raw', 'rx'] as const) await (warmUp ?? ((s: Side) => measure(s, -1)))(side);
  for (let round = 0; round < rounds; round++) {
    for (const side of sideOrder(round)) {
      gc();
      samples[side].push(await measure(side, round));
    }
  }
  return samples;
}

/** A figure's measurement of one side for a workload of `size` (bytes, messages, …). */
export type Measure = (side: Side, size: number) => Promise<number>;

/**
 * Measures both sides, `rounds` times each, alternating which goes first, after one unmeasured
 * warm-up run of each with `warmUpSize`. Each side runs in its own child process (this same
 * `file`, started with `BENCH_ROLE=side-rx` or `side-raw`, serving requests with
 * {@link serveSide}), kept for the whole figure: neither side's JIT feedback, garbage or sockets
 * weigh on the other's samples, while alternating still spreads the machine's noise over both.
 */
export async function alternateSides(
  file: string,
  rounds: number,
  size: number,
  warmUpSize: number,
): Promise<Record<Side, number[]>> {
  const children = { rx: forkRole(file, 'side-rx'), raw: forkRole(file, 'side-raw') };
  try {
    await Promise.all([nextMessage(children.rx, 'ready'), nextMessage(children.raw, 'ready')]);
    const run = async (side: Side, workload: number) => {
      const reply = nextMessage<{ type: string; value: number }>(children[side], 'sample');
      children[side].send({ type: 'run', size: workload });
      return (await reply).value;
    };
    const samples: Record<Side, number[]> = { rx: [], raw: [] };
    for (const side of ['raw', 'rx'] as const) await run(side, warmUpSize);
    for (let round = 0; round < rounds; round++) {
      for (const side of sideOrder(round)) samples[side].push(await run(side, size));
    }
    return samples;
  } finally {
    for (const child of [children.rx, children.raw]) if (child.connected) child.disconnect();
    await Promise.all([reap(children.rx), reap(children.raw)]);
  }
}

/**
 * In a child started by {@link alternateSides}: serves its requests with `measure` (after a full
 * GC each, unless `collect` is false) and returns true; in any other process returns false at once.
 */
export function serveSide(module: NodeModule, measure: Measure, collect = true): boolean {
  const role = process.env.BENCH_ROLE;
  if (require.main !== module || role === undefined || !role.startsWith('side-')) return false;
  const side = role.slice('side-'.length) as Side;
  process.on('message', (message: { type: string; size: number }) => {
    if (message.type !== 'run') return;
    if (collect) gc();
    measure(side, message.size).then((value) => process.send!({ type: 'sample', value }), exitWithError);
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
  return true;
}

/** A target on the ratio rx/raw (a floor or a ceiling), or on the rx-tcp samples themselves. */
export type Target =
  | { ratio: number; higherIsBetter: boolean }
  | { text: string; met: (rxSamples: number[]) => boolean }
  | { reference: true };

/**
 * Turns the samples into a result and prints it: both medians, the ratio, the spread of each side,
 * every sample, and whether the target is met.
 */
export function conclude(
  figure: string,
  unit: string,
  samples: Record<Side, number[]>,
  target: Target,
  notes: string[] = [],
  digits = 0,
): FigureResult {
  const rx = median(samples.rx);
  const raw = median(samples.raw);
  const ratio = rx / raw;
  let met: boolean | null;
  let text: string;
  if ('ratio' in target) {
    met = target.higherIsBetter ? ratio >= target.ratio : ratio <= target.ratio;
    text = `${target.higherIsBetter ? '>=' : '<='} ${target.ratio}x`;
  } else if ('met' in target) {
    met = target.met(samples.rx);
    text = target.text;
  } else {
    met = null;
    text = 'none (for reference)';
  }
  const result: FigureResult = {
    figure,
    unit,
    rx,
    raw,
    ratio,
    target: text,
    met,
    noise: { rx: spread(samples.rx), raw: spread(samples.raw) },
    rounds: samples.rx.length,
    notes,
  };
  const show = (values: number[]) => values.map((v) => v.toFixed(digits)).join(' ');
  console.log(`  ${result.rounds} alternating rounds, medians:`);
  console.log(`  rx-tcp: ${rx.toFixed(digits)} ${unit}   (samples ${show(samples.rx)})`);
  console.log(`  raw:    ${raw.toFixed(digits)} ${unit}   (samples ${show(samples.raw)})`);
  const shownRatio = Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a';
  console.log(
    `  ratio:  ${shownRatio}; target ${text}${met === null ? '' : met ? ': met' : ': NOT met'}; ` +
      `spread (max-min)/median rx ${pct(result.noise.rx)}, raw ${pct(result.noise.raw)}`,
  );
  for (const note of notes) console.log(`  ${note}`);
  return result;
}

export function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(0)}%`;
}

/** Runs a figure's `main` when its file is the entry point, and hands its results to a parent. */
export function runIfMain(module: NodeModule, main: () => Promise<FigureResult[] | undefined>): void {
  if (require.main !== module || process.env.BENCH_ROLE !== undefined) return;
  main().then((results) => {
    if (process.send !== undefined && results !== undefined) {
      process.send({ type: 'bench-results', results }, () => process.exit(0));
    }
  }, exitWithError);
}

/**
 * Runs a figure whose children are run under valgrind: as one of them when `BENCH_ROLE` starts
 * with `prefix` (`child` gets the rest of the role; the process exits once it is done), else as
 * the figure itself ({@link runIfMain}).
 */
export function runChildOrMain(
  module: NodeModule,
  prefix: string,
  child: (role: string) => Promise<void>,
  main: () => Promise<FigureResult[] | undefined>,
): void {
  const role = process.env.BENCH_ROLE;
  if (require.main === module && role?.startsWith(prefix)) {
    child(role.slice(prefix.length)).then(() => process.exit(0), exitWithError);
  } else {
    runIfMain(module, main);
  }
}

/** Ends a bench process (a figure, or one of its children) that failed: prints `error`, exits with 1. */
export function exitWithError(error: unknown): never {
  console.error(error);
  process.exit(1);
}

/** A figure whose two sides each run in their own process, measured by {@link alternateSides}. */
export interface SidesFigure {
  /** The line printed before the first run: what is measured, how much, in what unit. */
  heading: string;
  /** Its name in the summary table. */
  figure: string;
  /** What one sample measures, e.g. `MB/s`. */
  unit: string;
  /** The workload of each measured run (bytes, messages, …). */
  size: number;
  /** The workload of the unmeasured warm-up run of each side. */
  warmUpSize: number;
  /** Alternating rounds (`BENCH_ROUNDS` overrides it). Default 5. */
  rounds?: number;
  /**
   * A full GC before each run, so that one run's garbage is not collected during the next. Default
   * `true`. A figure of steady-state speed turns it off where a forced GC costs the next run more
   * than the garbage would (see `bench/connect-rate.ts`).
   */
  collectBetweenRuns?: boolean;
  target: Target;
  /** The note of the result: what exactly each side does. */
  note: string;
  /** Each side's measurement for a workload, run in that side's child process. */
  sides: Record<Side, (size: number) => Promise<number>>;
}

/**
 * Runs `figure`, defined in the file of `module`, and returns its `main`: in a side's child
 * ({@link serveSide}), serves that side; as the entry point ({@link runIfMain}), prints the heading,
 * measures with {@link alternateSides} over `roundsOr(5)` rounds and concludes with one result.
 */
export function sidesFigure(module: NodeModule, figure: SidesFigure): () => Promise<FigureResult[]> {
  const main = async () => {
    console.log(figure.heading);
    const rounds = roundsOr(figure.rounds ?? 5);
    const samples = await alternateSides(module.filename, rounds, figure.size, figure.warmUpSize);
    return [conclude(figure.figure, figure.unit, samples, figure.target, [figure.note])];
  };
  const serving = serveSide(
    module,
    (side, size) => figure.sides[side](size),
    figure.collectBetweenRuns ?? true,
  );
  if (!serving) runIfMain(module, main);
  return main;
}

/**
 * `node` arguments for a bench child process: `global.gc`, and ts-node when this file runs as
 * TypeScript. `npm run bench` runs the suite compiled (`bench/tsconfig.json`, into `bench/.build`):
 * ts-node loads Node's `repl`, which loads `domain`, and that puts every EventEmitter of the
 * process, raw `node:net` included, on a slower path than a user's compiled program takes.
 */
export const EXEC_ARGV = __filename.endsWith('.ts')
  ? ['-r', 'ts-node/register/transpile-only', '--expose-gc']
  : ['--expose-gc'];

/**
 * Forks `file` (a bench script) with `args`, an IPC channel, and stdout/stderr passed through.
 * The child sees `BENCH_ROLE` set to `role`.
 */
export function forkRole(file: string, role: string, args: string[] = []): ChildProcess {
  return fork(path.resolve(file), args, {
    execArgv: EXEC_ARGV,
    env: { ...process.env, BENCH_ROLE: role },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** True when `valgrind` can be run (the figures counted under it are skipped otherwise). */
export function hasValgrind(): boolean {
  return spawnSync('valgrind', ['--version']).status === 0;
}

/** How a bench script run under valgrind ended: its exit code, its pid, and valgrind's report. */
export interface ValgrindRun {
  code: number | null;
  pid: number | undefined;
  stderr: string;
}

/**
 * Runs `file` (a bench script) under valgrind with `valgrindArgs` (the tool and its options), as
 * `node --single-threaded` with `nodeArgs`, in `role`, with `env` added to this process's.
 * `--single-threaded` puts V8's compiler and garbage collector on the one thread counted.
 */
export function runUnderValgrind(
  file: string,
  role: string,
  valgrindArgs: string[],
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<ValgrindRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'valgrind',
      [
        ...valgrindArgs,
        '--smc-check=all-non-file', // V8 writes and patches machine code
        process.execPath,
        '--single-threaded',
        ...nodeArgs,
        ...EXEC_ARGV,
        file,
      ],
      { env: { ...process.env, ...env, BENCH_ROLE: role }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, pid: child.pid, stderr }));
  });
}

/** The next IPC message of `child` whose `type` is `type`; rejects if the child exits first. */
export function nextMessage<T extends { type: string }>(child: ChildProcess, type: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: T) => {
      if (message?.type !== type) return;
      cleanup();
      resolve(message);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`child exited (${code ?? signal}) before sending '${type}'`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Waits for `child` to exit, killing it (by its own pid) after `ms`. */
export async function reap(child: ChildProcess, ms = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** Heap used and resident set size, in bytes. */
export interface Memory {
  heap: number;
  rss: number;
}

/** Memory of this process after a full collection. */
export async function settledMemory(): Promise<Memory> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heap: heapUsed, rss };
}

export const MiB = 1024 * 1024;
export const KiB = 1024;
