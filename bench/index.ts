/**
 * The benchmark suite: every figure, each in a fresh process, then a summary table.
 *
 * `npm run bench` runs them all (about 4 minutes on 2 cores); `npm run bench -- ping-pong
 * connect-rate` runs some; `BENCH_QUICK=1 npm run bench` is a quick pass with smaller sizes;
 * `BENCH_ROUNDS=n` overrides the number of rounds; `BENCH_JSON=path` also writes the results as
 * JSON. `npm run bench -- tls cluster connect-instructions connect-profile` runs the four figures
 * that are not in the default set.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXEC_ARGV, type FigureResult, pct, QUICK } from './common';

const FIGURES = [
  'bulk-echo',
  'ping-pong',
  'ping-pong-awaited',
  'connect-rate',
  'small-writes',
  'idle-memory',
  'slow-reader',
  'lines',
  'reconnect',
  'pool',
] as const;
/**
 * Figures run only when named: TLS against Node's `tls`, `node:cluster` workers, and the connect
 * rate counted under valgrind: in total, and function by function.
 */
const EXTRA_FIGURES = [
  'tls',
  'cluster',
  'connect-instructions',
  'connect-profile',
  'resp',
  'resp-memory',
  'connect-storm',
  'proxy-connect-rate',
] as const;

/** `bench/lines.ts` prints its figures rather than returning them: read them from its output. */
function parseLines(output: string): FigureResult[] {
  const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1]);
  const rx = number(/lines\(\):\s+([\d.]+) MB\/s/);
  const raw = number(/readline:\s+([\d.]+) MB\/s/);
  if (!(rx > 0 && raw > 0)) return [];
  const ratio = rx / raw;
  return [
    {
      figure: 'line framing',
      unit: 'MB/s',
      rx,
      raw,
      ratio,
      target: '>= 3x',
      met: ratio >= 3,
      noise: { rx: Number.NaN, raw: Number.NaN },
      rounds: 7,
      notes: ['lines() vs node:readline on ~100 MB of text (bench/lines.ts)'],
    },
  ];
}

function runFigure(name: string): Promise<FigureResult[]> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, `${name}${path.extname(__filename)}`), [], {
      execArgv: EXEC_ARGV,
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let output = '';
    let results: FigureResult[] | undefined;
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on('message', (message: { type: string; results: FigureResult[] }) => {
      if (message.type === 'bench-results') results = message.results;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`bench/${name}.ts exited with ${code}`));
      else resolve(results ?? (name === 'lines' ? parseLines(output) : []));
    });
  });
}

function format(value: number): string {
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)} k`;
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toFixed(1);
}

export function table(results: FigureResult[]): string {
  const lines = [
    '| figure | rx-tcp (median) | raw node:net (median) | ratio | target | met | spread rx / raw |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    // Sent over IPC as JSON, a NaN arrives as null, an Infinity too.
    const known = (value: number | null) => typeof value === 'number' && Number.isFinite(value);
    const noise = known(r.noise.rx) ? `${pct(r.noise.rx)} / ${pct(r.noise.raw)}` : 'n/a';
    const ratio = known(r.ratio) ? `${r.ratio.toFixed(2)}x` : 'n/a';
    lines.push(
      `| ${r.figure} | ${format(r.rx)} ${r.unit} | ${format(r.raw)} ${r.unit} | ${ratio} | ` +
        `${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} | ${noise} |`,
    );
  }
  return lines.join('\n');
}

export async function main(): Promise<FigureResult[]> {
  const asked = process.argv.slice(2);
  const known: readonly string[] = [...FIGURES, ...EXTRA_FIGURES];
  const unknown = asked.filter((name) => !known.includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown figures ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const names = asked.length > 0 ? asked : [...FIGURES];
  const start = Date.now();
  console.log(
    `rx-tcp benchmarks: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ` +
      `Node ${process.version}, ${os.platform()} ${os.release()}${QUICK ? ', QUICK (reduced sizes)' : ''}`,
  );
  const results: FigureResult[] = [];
  for (const name of names) {
    console.log('');
    const started = Date.now();
    results.push(...(await runFigure(name)));
    console.log(`  (bench/${name}: ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  console.log(`\nsummary (${((Date.now() - start) / 1000).toFixed(0)} s):\n`);
  console.log(table(results));
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
  return results;
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
