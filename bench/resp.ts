/**
 * RESP: a Redis-protocol server under the real `redis-benchmark -t ping,set,get,incr -n 200000
 * -c 50 -q`, pipelining 1 (`-P 1`) and 16 (`-P 16`) commands per connection, against three servers
 * in this process, doing the same commands with the same replies and limits:
 *
 * - recommended: `startRespServer` of `examples/resp-server.ts`, the way the README recommends
 *   (`reader.pipe(decode(respCommands()), map(execute), tap(reply => writer.write(reply)))`);
 * - pull-style: the same `execute`, its commands read as a README reader would write it first, an
 *   `async` loop per connection awaiting `reader.readLine()` for each header and
 *   `reader.reallyRead(n)` for each argument, and writing each reply with `writer.write`;
 * - raw: `bench/raw-resp-server.ts`, a competent raw `node:net` server (each 'data' chunk parsed
 *   in place, its replies written in one `socket.write`).
 *
 * Each round runs every server at both `-P` settings, in an order rotated from round to round,
 * after one shorter unmeasured run of each. The figures are requests per second (what
 * redis-benchmark reports, per test and overall: all requests over the time of all tests) and
 * write system calls per request: the `syscw` count of `/proc/self/io` (this process, whose only
 * sockets written during a run are the server's: redis-benchmark is a child process, counted apart)
 * before and after each run, divided by the requests of the run. The CPU time of this process per
 * request is printed too (`process.cpuUsage`): on a machine shared with the client, it tells what
 * each server costs better than its throughput does.
 *
 * Not in the default set: `npm run bench -- resp` (a few minutes; `BENCH_QUICK=1` for 20 k
 * requests per test). Needs `redis-benchmark` (Debian's `redis-tools`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import type * as net from 'node:net';
import * as path from 'node:path';
import { defer, firstValueFrom } from 'rxjs';
import type * as Example from '../examples/resp-server';
import { EOF, type Handler, type InetAddress, type Reader } from '../src';
import { conclude, type FigureResult, gc, median, roundsOr, runIfMain, sized } from './common';
import { startRawRespServer } from './raw-resp-server';
import { closeRaw, closeRxServer, onLoopbackPortChosenByOs, type RxServer, startRxServer } from './servers';

const REQUESTS = sized(200_000, 20_000);
const WARM_UP_REQUESTS = sized(20_000, 5_000);
const CLIENTS = 50;
const PIPELINES = [1, 16] as const;
const TESTS = ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR'] as const;

type ServerName = 'recommended' | 'pull' | 'raw';
const SERVERS: readonly ServerName[] = ['recommended', 'pull', 'raw'];
const LABELS: Record<ServerName, string> = {
  recommended: 'rx-tcp, decode (recommended)',
  pull: 'rx-tcp, pull-style loop',
  raw: 'raw node:net',
};

/** One redis-benchmark run against one server. */
interface Run {
  /** Requests per second reported for each test. */
  perTest: Record<string, number>;
  /** All requests over the time of all tests. */
  overall: number;
  /** Write system calls of this process during the run, per request. */
  writesPerRequest: number;
  /** CPU time of this process (user and system, all its threads) during the run, µs per request. */
  cpuPerRequest: number;
}

/**
 * `examples/resp-server.ts` imports `rx-tcp` as a user's program does. Compiled into
 * `bench/.build`, that name would resolve to the package's own `dist` (Node resolves a package's
 * name from inside it to its `exports`), an older build than the sources measured by every other
 * figure: send it to the sources compiled beside this file.
 */
function resolveRxTcpToSources(): void {
  const sources: Record<string, string> = {
    'rx-tcp': path.join(__dirname, '..', 'src', 'index'),
    'rx-tcp/operators': path.join(__dirname, '..', 'src', 'operators', 'index'),
    'rx-tcp/testing': path.join(__dirname, '..', 'src', 'testing', 'index'),
  };
  const resolver = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = resolver._resolveFilename;
  resolver._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    return resolve.call(this, sources[request] ?? request, ...rest);
  };
}

/**
 * The pull-style server: a loop per connection reading each command with pull reads, as the
 * README's "Reading and writing" section shows them, and the example's `execute`.
 */
function pullStyle(example: typeof Example): Handler<InetAddress> {
  const store: Example.Store = new Map();
  return (_address, reader, writer) =>
    defer(async () => {
      for (;;) {
        const command = await readCommand(reader);
        if (command === EOF) return;
        if (command.length === 0) continue;
        const reply = example.execute(store, command);
        writer.write(reply);
        if (reply === example.QUIT_OK) return;
      }
    });
}

async function readCommand(reader: Reader): Promise<Example.Command | EOF> {
  const line = await firstValueFrom(reader.readLine());
  if (line === EOF) return EOF;
  if (!line.startsWith('*'))
    return line.split(' ').flatMap((word) => (word === '' ? [] : [Buffer.from(word)]));
  const count = Number(line.slice(1));
  if (!(Number.isInteger(count) && count <= 1024)) throw new Error(`bad multibulk length ${line}`);
  const command: Example.Command = [];
  for (let i = 0; i < count; i++) {
    const header = await firstValueFrom(reader.readLine());
    const length = header === EOF ? Number.NaN : Number(header.slice(1));
    if (!(Number.isInteger(length) && length >= 0 && length <= 512 * 1024)) {
      throw new Error(`bad bulk length ${String(header)}`);
    }
    const bulk = await firstValueFrom(reader.reallyRead(length + 2)); // the bytes, then CRLF
    if (!Buffer.isBuffer(bulk)) throw new Error('the client left inside a command');
    command.push(bulk.subarray(0, length));
  }
  return command;
}

/** Write system calls made by this process so far (`syscw` of /proc/self/io); NaN off Linux. */
function writeSyscalls(): number {
  try {
    return Number(/^syscw:\s*(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
  } catch {
    return Number.NaN;
  }
}

/** Runs redis-benchmark against 127.0.0.1:`port`; what it reports, and this process's writes. */
function benchmark(port: number, pipeline: number, requests: number): Promise<Run> {
  const args = ['-p', String(port), '-t', 'ping,set,get,incr', '-n', String(requests)];
  args.push('-c', String(CLIENTS), '-P', String(pipeline), '-q');
  return new Promise((resolve, reject) => {
    const before = writeSyscalls();
    const cpu = process.cpuUsage();
    const child = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const writes = writeSyscalls() - before;
      const { user, system } = process.cpuUsage(cpu);
      if (code !== 0 || stderr !== '') {
        reject(new Error(`redis-benchmark ${args.join(' ')} exited with ${code}: ${stderr}`));
        return;
      }
      const perTest: Record<string, number> = {};
      for (const [, test, rate] of stdout.matchAll(/([A-Z_]+): ([\d.]+) requests per second/g)) {
        perTest[test] = Number(rate);
      }
      const missing = TESTS.filter((test) => !(perTest[test] > 0));
      if (missing.length > 0) {
        reject(new Error(`redis-benchmark reported no ${missing.join(', ')}: ${stdout}`));
        return;
      }
      const seconds = TESTS.reduce((sum, test) => sum + requests / perTest[test], 0);
      const total = requests * TESTS.length;
      resolve({
        perTest,
        overall: total / seconds,
        writesPerRequest: writes / total,
        cpuPerRequest: (user + system) / total,
      });
    });
  });
}

/** The order of the servers in `round`: rotated by one each round, and reversed after every three. */
function serverOrder(round: number): ServerName[] {
  const rotated = SERVERS.map((_, i) => SERVERS[(i + round) % SERVERS.length]);
  return Math.floor(round / SERVERS.length) % 2 === 0 ? rotated : rotated.reverse();
}

function format(rate: number): string {
  return rate >= 1e4 ? `${(rate / 1e3).toFixed(1)} k` : rate.toFixed(0);
}

async function main(): Promise<FigureResult[] | undefined> {
  console.log(
    `RESP: redis-benchmark -t ping,set,get,incr -n ${REQUESTS} -c ${CLIENTS} -P 1 and -P 16, requests/s and write syscalls/request`,
  );
  if (spawnSync('redis-benchmark', ['--version']).status !== 0) {
    console.log('  redis-benchmark not found (apt-get install redis-tools): figure skipped');
    return [];
  }
  resolveRxTcpToSources();
  const example: typeof Example = await import('../examples/resp-server');
  const recommended: RxServer = await example.startRespServer(onLoopbackPortChosenByOs);
  const pull = await startRxServer(pullStyle(example));
  const raw: net.Server = await startRawRespServer(0);
  const ports: Record<ServerName, number> = {
    recommended: recommended.listeningOn,
    pull: pull.listeningOn,
    raw: (raw.address() as net.AddressInfo).port,
  };
  const runs: Record<number, Record<ServerName, Run[]>> = {};
  for (const pipeline of PIPELINES) runs[pipeline] = { recommended: [], pull: [], raw: [] };
  try {
    for (const server of SERVERS) {
      for (const pipeline of PIPELINES) await benchmark(ports[server], pipeline, WARM_UP_REQUESTS);
    }
    const rounds = roundsOr(3);
    for (let round = 0; round < rounds; round++) {
      for (const pipeline of PIPELINES) {
        for (const server of serverOrder(round)) {
          gc();
          const run = await benchmark(ports[server], pipeline, REQUESTS);
          runs[pipeline][server].push(run);
          const tests = TESTS.map((test) => `${test} ${format(run.perTest[test])}`).join(', ');
          console.log(
            `  round ${round + 1}, -P ${String(pipeline).padEnd(2)} ${LABELS[server].padEnd(28)} ` +
              `${format(run.overall)} req/s, ${run.writesPerRequest.toFixed(3)} writes/req, ` +
              `${run.cpuPerRequest.toFixed(2)} µs CPU/req (${tests})`,
          );
        }
      }
    }
  } finally {
    await closeRxServer(recommended);
    await closeRxServer(pull);
    await closeRaw(raw);
  }

  console.log('\n  medians over the rounds, requests/s:');
  console.log(
    `  ${'-P server'.padEnd(34)}${TESTS.map((test) => test.padStart(12)).join('')}     overall  writes/req  µs CPU/req`,
  );
  for (const pipeline of PIPELINES) {
    for (const server of SERVERS) {
      const of = runs[pipeline][server];
      const tests = TESTS.map((test) => format(median(of.map((run) => run.perTest[test]))).padStart(12));
      const overall = format(median(of.map((run) => run.overall))).padStart(12);
      const writes = median(of.map((run) => run.writesPerRequest))
        .toFixed(3)
        .padStart(12);
      const cpu = median(of.map((run) => run.cpuPerRequest))
        .toFixed(2)
        .padStart(12);
      const label = `${String(pipeline).padEnd(3)}${LABELS[server]}`.padEnd(34);
      console.log(`  ${label}${tests.join('')}${overall}${writes}${cpu}`);
    }
  }

  const results: FigureResult[] = [];
  for (const pipeline of PIPELINES) {
    const { recommended: a, pull: b, raw: c } = runs[pipeline];
    const rate = (of: Run[]) => of.map((run) => run.overall);
    // Per thousand requests: the summary table shows one decimal.
    const writes = (of: Run[]) => of.map((run) => run.writesPerRequest * 1000);
    /** The ratio to raw of each round, paired: less sensitive to the machine's drift. */
    const paired = (of: Run[]) =>
      `paired per-round ratio to raw, median ${median(of.map((run, i) => run.overall / c[i].overall)).toFixed(2)}x`;
    const note = `redis-benchmark -t ping,set,get,incr -n ${REQUESTS} -c ${CLIENTS} -P ${pipeline}`;
    console.log(`\n  -P ${pipeline}, ${LABELS.recommended} against ${LABELS.raw}:`);
    results.push(
      conclude(
        `RESP -P ${pipeline}, decode (recommended)`,
        'req/s',
        { rx: rate(a), raw: rate(c) },
        {
          ratio: 0.9,
          higherIsBetter: true,
        },
        [note, paired(a)],
      ),
    );
    console.log(`\n  -P ${pipeline}, ${LABELS.pull} against ${LABELS.raw}:`);
    results.push(
      conclude(
        `RESP -P ${pipeline}, pull-style loop`,
        'req/s',
        { rx: rate(b), raw: rate(c) },
        pipeline === 16 ? { ratio: 0.5, higherIsBetter: true } : { reference: true },
        [note, paired(b)],
      ),
    );
    console.log(
      `\n  -P ${pipeline}, write syscalls per request, ${LABELS.recommended} against ${LABELS.raw}:`,
    );
    results.push(
      conclude(
        `RESP -P ${pipeline} write syscalls, decode`,
        'writes/1k req',
        { rx: writes(a), raw: writes(c) },
        { reference: true },
        [note],
        1,
      ),
    );
    console.log(`\n  -P ${pipeline}, write syscalls per request, ${LABELS.pull} against ${LABELS.raw}:`);
    results.push(
      conclude(
        `RESP -P ${pipeline} write syscalls, pull-style loop`,
        'writes/1k req',
        { rx: writes(b), raw: writes(c) },
        { ratio: 1.2, higherIsBetter: false },
        [note],
        1,
      ),
    );
  }
  return results;
}

runIfMain(module, main);
