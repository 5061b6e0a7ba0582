/**
 * Multi-core: many short requests, one per connection, against `Server.create` in 2 node:cluster
 * workers sharing a port, against the same in 1 worker.
 *
 * The primary (this process) picks two free ports from the OS and forks three workers: one alone
 * on the first port, two sharing the second (cluster's round-robin, Node's default on Linux,
 * hands each accepted connection to the next worker of that port). Every worker runs the same
 * `Server.create(onPort(port), handler)`: the handler does a fixed amount of work (256 SHA-256
 * of 1 KiB, about a millisecond: the request a real server would handle), writes one
 * line and ends, so the server closes first. The load comes from a separate client process using
 * plain `node:net`: 64 connections in flight, each connecting, reading the line to its end, and
 * closing.
 *
 * The figure is connections per second; the ratio is 2 workers over 1. The cluster primary (which
 * accepts, in round-robin), the client and the workers share the machine's cores, so the ratio is
 * bounded by what they leave to the workers: on 2 cores, well under 2x (the target, 1.3x, is for 2
 * cores; more cores leave more to the workers). With little work per
 * request (`BENCH_CLUSTER_WORK=0` or `64`), the client and the primary cost as much per connection
 * as a worker, and on 2 cores a second worker has no core left to use (about 1x).
 *
 * Run alone with `npm run bench -- cluster`; `BENCH_QUICK=1` for 1 k per run.
 * `NODE_CLUSTER_SCHED_POLICY=none` lets the workers accept by themselves instead (the OS balances).
 */
import type { ChildProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';
import { EMPTY, firstValueFrom } from 'rxjs';
import { onPort, Server } from '../src';
import {
  EXEC_ARGV,
  exitWithError,
  type FigureResult,
  forkRole,
  median,
  nextMessage,
  pct,
  reap,
  roundsOr,
  runIfMain,
  secondsSince,
  sized,
  spread,
} from './common';
import { closeRaw, listenRaw } from './servers';

const CONNECTIONS = sized(3_000, 1_000);
const IN_FLIGHT = 64;
/** What 2 workers should reach over 1 on 2 cores, which they share with the primary and the client. */
const TARGET = 1.3;
/** SHA-256 rounds over 1 KiB per request. `BENCH_CLUSTER_WORK=0` measures bare connections. */
const WORK = Number(process.env.BENCH_CLUSTER_WORK ?? 256);
const PAYLOAD = Buffer.alloc(1024, 'r');

/** The request's work: CPU-bound, as a handler parsing, computing and encoding would be. */
function work(): string {
  let digest = PAYLOAD;
  for (let i = 0; i < WORK; i++) digest = crypto.createHash('sha256').update(digest).update(PAYLOAD).digest();
  return digest.toString('hex', 0, 8);
}

type Run = { type: 'run'; port: number; connections: number };
type Done = { type: 'done'; seconds: number; failed: number };

/** A cluster worker: the server, and nothing else. */
async function worker(): Promise<void> {
  const port = Number(process.env.BENCH_PORT);
  await firstValueFrom(
    Server.create(onPort(port), (_address, _reader, writer) => {
      writer.writeLine(work());
      return EMPTY;
    }),
  );
  process.send!({ type: 'listening' });
}

/** The client process: opens `connections` connections, `IN_FLIGHT` at a time, for each run asked. */
function client(): void {
  process.on('message', async (message: Run) => {
    if (message?.type !== 'run') return;
    let started = 0;
    let failed = 0;
    const one = () =>
      new Promise<void>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: message.port, noDelay: true });
        socket.on('error', () => {
          failed++;
          resolve();
        });
        socket.on('close', () => resolve());
        socket.resume(); // read the line; the server's FIN then ends and closes this socket
      });
    const lane = async () => {
      while (started < message.connections) {
        started++;
        await one();
      }
    };
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    process.send!({ type: 'done', seconds: secondsSince(start), failed } satisfies Done);
  });
  process.send!({ type: 'ready' });
}

/** A port nothing listens on, chosen by the OS (and released at once, for the workers to take). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  const port = await listenRaw(probe);
  await closeRaw(probe);
  return port;
}

async function startWorker(port: number): Promise<Worker> {
  const child = cluster.fork({ BENCH_PORT: String(port), BENCH_ROLE: 'cluster-worker' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before listening`)));
  });
  return child;
}

async function measure(load: ChildProcess, port: number, connections: number): Promise<number> {
  const done = nextMessage<Done>(load, 'done');
  load.send({ type: 'run', port, connections } satisfies Run);
  const { seconds, failed } = await done;
  if (failed > 0) throw new Error(`${failed} of ${connections} connections failed`);
  return connections / seconds;
}

export async function main(): Promise<FigureResult[]> {
  const policy = cluster.schedulingPolicy === cluster.SCHED_RR ? 'round-robin' : 'none (the OS balances)';
  console.log(
    `cluster: ${CONNECTIONS} short connections (${IN_FLIGHT} in flight, ${WORK} SHA-256 of 1 KiB each) ` +
      `against 2 workers vs 1, connections/s; ${os.availableParallelism()} cores, scheduling ${policy}`,
  );
  // Workers run this file (not bench/index, which may have imported it), compiled or under ts-node.
  cluster.setupPrimary({ exec: __filename, execArgv: EXEC_ARGV, silent: false });
  const [alonePort, sharedPort] = [await freePort(), await freePort()];
  const workers = await Promise.all([
    startWorker(alonePort),
    startWorker(sharedPort),
    startWorker(sharedPort),
  ]);
  const load = forkRole(__filename, 'client');
  try {
    await nextMessage(load, 'ready');
    const ports = { one: alonePort, two: sharedPort };
    const samples = { one: [] as number[], two: [] as number[] };
    // One unmeasured run each, so that both are compiled and warm before timing starts.
    for (const side of ['one', 'two'] as const) await measure(load, ports[side], CONNECTIONS / 4);
    const rounds = roundsOr(5);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['two', 'one'] as const) : (['one', 'two'] as const);
      for (const side of order) samples[side].push(await measure(load, ports[side], CONNECTIONS));
    }
    const two = median(samples.two);
    const one = median(samples.one);
    const ratio = two / one;
    const show = (values: number[]) => values.map((v) => v.toFixed(0)).join(' ');
    console.log(`  ${rounds} alternating rounds, medians:`);
    console.log(`  2 workers: ${two.toFixed(0)} connections/s   (samples ${show(samples.two)})`);
    console.log(`  1 worker:  ${one.toFixed(0)} connections/s   (samples ${show(samples.one)})`);
    console.log(
      `  ratio:     ${ratio.toFixed(2)}x; target >= ${TARGET}x: ${ratio >= TARGET ? 'met' : 'NOT met'}; ` +
        `spread (max-min)/median 2 workers ${pct(spread(samples.two))}, 1 worker ${pct(spread(samples.one))}`,
    );
    return [
      {
        figure: 'cluster, 2 workers vs 1',
        unit: 'connections/s',
        rx: two,
        raw: one,
        ratio,
        target: `>= ${TARGET}x`,
        met: ratio >= TARGET,
        noise: { rx: spread(samples.two), raw: spread(samples.one) },
        rounds,
        notes: [
          `rx = 2 workers, raw = 1 worker, both Server.create; ${CONNECTIONS} connections per run from a client ` +
            `process, ${WORK} SHA-256 of 1 KiB per request; ${os.availableParallelism()} cores shared by the ` +
            'primary, the client and the workers',
        ],
      },
    ];
  } finally {
    load.kill();
    await reap(load);
    for (const child of workers) child.kill();
    await Promise.all(workers.map((child) => (child.isDead() ? undefined : once(child, 'exit'))));
  }
}

if (process.env.BENCH_ROLE === 'client') {
  client();
} else if (cluster.isWorker) {
  worker().catch(exitWithError);
} else {
  runIfMain(module, main);
}
