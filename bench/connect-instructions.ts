/**
 * Connect rate counted rather than timed (for reference, run only when named: `npm run bench --
 * connect-instructions`; needs `valgrind`; about 5 minutes): the user-space instructions per
 * connection of the connect-rate workload (`connect-and-close.ts`: sequential connect + close,
 * client and server in one process), rx-tcp against raw `node:net`, at both ends and then at one
 * end at a time (the other being raw), which tells the client's share from the server's.
 *
 * On the shared 2-core machines this suite runs on, timed rounds of the same build differ by 20%
 * and more; a count differs by about 2%, which makes it the measure to optimise against. Each side
 * runs under `valgrind --tool=cachegrind` with `node --single-threaded` (the compiler and the
 * garbage collector on the one thread counted, rather than partly on threads of their own) twice:
 * after the same warm-up, once with a short measured run and once with a long one; the difference
 * of the two totals, divided by the difference in connections, is the cost of one connection at
 * steady state, start-up and warm-up cancelled out. What it leaves out is the kernel's share, the
 * same on both sides but for rx-tcp's one `getpeername` per connection (the handler's `address`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { EXEC_ARGV, type FigureResult, QUICK, runIfMain, type Side } from './common';
import { measureConnectRate } from './connect-and-close';

const WARM_UP = QUICK ? 2_000 : 8_000;
const SHORT = QUICK ? 500 : 2_000;
const LONG = QUICK ? 1_500 : 8_000;

/** Which end runs what: `server/client`, each `rx` or `raw`. */
type Ends = `${Side}/${Side}`;

/** In a counted child: warm up, then run `count` connections, then exit. */
async function countedRun(ends: Ends, count: number): Promise<void> {
  const [server, client] = ends.split('/') as [Side, Side];
  const run = measureConnectRate(server, client);
  await run(WARM_UP);
  await run(count);
}

/** Total user-space instructions of one child run of `ends` with `count` measured connections. */
function instructions(ends: Ends, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'valgrind',
      [
        '--tool=cachegrind',
        '--cache-sim=no',
        '--smc-check=all-non-file', // V8 writes and patches machine code
        '--cachegrind-out-file=/dev/null',
        process.execPath,
        '--single-threaded',
        ...EXEC_ARGV,
        __filename,
      ],
      {
        env: { ...process.env, BENCH_ROLE: `count-${ends}`, BENCH_COUNT: String(count) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const refs = /I\s+refs:\s+([\d,]+)/.exec(stderr)?.[1];
      if (code !== 0 || refs === undefined)
        reject(new Error(`valgrind (${ends}, ${count}) failed:\n${stderr}`));
      else resolve(Number(refs.replaceAll(',', '')));
    });
  });
}

/** Instructions per connection with `ends`: its two runs in parallel, one per core. */
async function perConnection(ends: Ends): Promise<number> {
  const [short, long] = await Promise.all([instructions(ends, SHORT), instructions(ends, LONG)]);
  return (long - short) / (LONG - SHORT);
}

const ROWS: { figure: string; ends: Ends }[] = [
  { figure: 'connect rate, instructions per connection (reference)', ends: 'rx/rx' },
  { figure: '… of which rx-tcp client, raw server', ends: 'raw/rx' },
  { figure: '… of which rx-tcp server, raw client', ends: 'rx/raw' },
];

async function main(): Promise<FigureResult[]> {
  console.log(
    `connect rate, counted: user-space instructions per connection (${LONG - SHORT} connections after ${WARM_UP})`,
  );
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.log('  skipped: valgrind is not installed');
    return [];
  }
  const raw = await perConnection('raw/raw');
  console.log(`  raw server, raw client:  ${raw.toFixed(0)}`);
  const results: FigureResult[] = [];
  for (const { figure, ends } of ROWS) {
    const rx = await perConnection(ends);
    const [server, client] = ends.split('/');
    console.log(
      `  ${server} server, ${client} client: ${rx.toFixed(0)}  (${(rx / raw).toFixed(3)}x raw; raw/rx ${(raw / rx).toFixed(3)}, to compare with the connect rate)`,
    );
    results.push({
      figure,
      unit: 'instr/conn',
      rx,
      raw,
      ratio: rx / raw,
      target: 'none (for reference)',
      met: null,
      noise: { rx: Number.NaN, raw: Number.NaN },
      rounds: 1,
      notes: ['valgrind cachegrind, node --single-threaded; user space only; lower is better'],
    });
  }
  return results;
}

const role = process.env.BENCH_ROLE;
if (require.main === module && role?.startsWith('count-')) {
  countedRun(role.slice('count-'.length) as Ends, Number(process.env.BENCH_COUNT)).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  runIfMain(module, main);
}
