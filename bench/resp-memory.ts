/**
 * RESP memory: 10 k connections held by a Redis-protocol server, heap and RSS per connection of the
 * server process, measured twice: right after the connections are accepted (idle), and after one
 * request on each (`PING`, answered `+PONG`).
 *
 * - rx-tcp: `startRespServer` of `examples/resp-server.ts` (`Server.create` with the example's
 *   RESP handler);
 * - raw: `startRawRespServer` of `bench/raw-resp-server.ts` (a `node:net` server parsing RESP in
 *   its `'data'` handler).
 *
 * Three processes per run, as in `idle-memory.ts`, so that the process measured holds nothing but
 * the server: the server (fresh for every run), the client (plain `node:net` for both sides, one
 * for the whole figure) and this process. The client first opens a few hundred connections, sends
 * one PING on each and closes them, so that the server's code for both moments is compiled; the
 * server then measures itself after a full GC with no connection open (the baseline), once the
 * 10 k connections are accepted, and once each has had its PONG. Each figure is the difference
 * from the baseline divided by 10 k. The target is on the RSS, at both moments (at most 1.3× raw's);
 * the heap used is shown for reference, and each run also prints the heap committed (`heapTotal`)
 * and the external memory (array buffers: a writer's coalescing buffer shows there).
 *
 * Run alone with `npm run bench -- resp-memory`; `BENCH_QUICK=1` for 2 k connections.
 * `RESP_MEMORY_SNAPSHOTS=dir` makes one run of each side instead, which also writes a heap
 * snapshot of the server at the baseline and after the PINGs into `dir` (for a breakdown by
 * constructor; `RESP_MEMORY_CONNECTIONS=n` sets the number of connections).
 */
import type { ChildProcess } from 'node:child_process';
import Module from 'node:module';
import type * as net from 'node:net';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import {
  conclude,
  exitWithError,
  type FigureResult,
  forkRole,
  gc,
  nextMessage,
  reap,
  roundsOr,
  runIfMain,
  type Side,
  sideOrder,
  sized,
} from './common';
import { startRawRespServer } from './raw-resp-server';
import { closeAll, onLoopbackPortChosenByOs, openConnections } from './servers';

const CONNECTIONS = Number(process.env.RESP_MEMORY_CONNECTIONS) || sized(10_000, 2_000);
const WARM_UP_CONNECTIONS = 500;
const CONNECTS_IN_FLIGHT = 32;
/** How long any one step (opening 10 k connections, answering 10 k PINGs, a GC) may take. */
const STEP_LIMIT_MS = 120_000;

/** `PING` as a RESP array of one bulk string, as `redis-cli` and client libraries send it. */
const PING = Buffer.from('*1\r\n$4\r\nPING\r\n');
const PONG = '+PONG\r\n';

/** What the server process reports of itself after a full GC, in bytes. */
interface Usage {
  heap: number;
  /** The heap V8 has committed (`heapTotal`): what the heap takes of the RSS, garbage room included. */
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

const MOMENTS = ['idle', 'ping'] as const;
type Moment = (typeof MOMENTS)[number];

// ---------------------------------------------------------------------------------------------
// The server process.

async function settledUsage(): Promise<Usage> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, heapTotal, rss, external, arrayBuffers } = process.memoryUsage();
  return { heap: heapUsed, heapTotal, rss, external, arrayBuffers };
}

/**
 * `examples/resp-server.ts`, its imports of `rx-tcp` and `rx-tcp/operators` resolved to this
 * suite's own copy of `src` (compiled beside it, or run by ts-node), as `tsconfig.json`'s `paths`
 * resolve them for the compiler: by its package name, Node would load the package's `dist`, a
 * build that may be older than `src`, and a second copy of the library.
 */
async function importExample(): Promise<typeof import('../examples/resp-server')> {
  const loader = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = loader._resolveFilename;
  const src = path.resolve(__dirname, '../src');
  loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    const own = request === 'rx-tcp' || request.startsWith('rx-tcp/');
    return resolve.call(this, own ? path.join(src, request.slice('rx-tcp'.length)) : request, ...rest);
  };
  return import('../examples/resp-server');
}

async function serverRole(side: Side): Promise<void> {
  let open: () => Promise<number>;
  let port: number;
  if (side === 'rx') {
    const { startRespServer } = await importExample();
    // Every connection of the run is served at once (the default backlog, 511, takes the connects).
    const server = await startRespServer(onLoopbackPortChosenByOs, { maxConnections: CONNECTIONS * 2 });
    open = async () => server.numConnections;
    port = server.listeningOn;
  } else {
    const server = await startRawRespServer(0);
    // Counted by Node itself: a 'close' listener per socket would weigh on the raw side only.
    open = () =>
      new Promise((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      );
    port = (server.address() as net.AddressInfo).port;
  }
  process.send!({ type: 'listening', port });
  process.on('message', async (message: { type: string; connections: number; file?: string }) => {
    if (message.type === 'measure') {
      const deadline = Date.now() + STEP_LIMIT_MS;
      while ((await open()) !== message.connections) {
        if (Date.now() > deadline) {
          exitWithError(
            new Error(`server ${side}: ${await open()} connections, expected ${message.connections}`),
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      process.send!({ type: 'memory', usage: await settledUsage() });
    } else if (message.type === 'snapshot') {
      gc();
      const file = v8.writeHeapSnapshot(message.file);
      process.send!({ type: 'snapshot-written', file });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The client process: plain node:net whatever the server is.

/** One PING on `socket`; resolves once its `+PONG` came back in full. */
function ping(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.length < PONG.length) return;
      cleanup();
      if (received === PONG) resolve();
      else reject(new Error(`expected ${JSON.stringify(PONG)}, got ${JSON.stringify(received)}`));
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`connection closed after ${JSON.stringify(received)}`));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.write(PING);
  });
}

async function pingAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(sockets.map(ping));
}

function clientRole(): void {
  let held: net.Socket[] = [];
  process.on('message', async (message: { type: string; port: number; count: number }) => {
    try {
      if (message.type === 'warm-up') {
        const sockets = await openConnections(message.port, message.count, CONNECTS_IN_FLIGHT);
        await pingAll(sockets);
        await closeAll(sockets);
        process.send!({ type: 'warmed' });
      } else if (message.type === 'open') {
        held = await openConnections(message.port, message.count, CONNECTS_IN_FLIGHT);
        process.send!({ type: 'opened' });
      } else if (message.type === 'ping') {
        await pingAll(held);
        process.send!({ type: 'pinged' });
      } else if (message.type === 'close') {
        await closeAll(held);
        held = [];
        process.send!({ type: 'closed' });
      }
    } catch (error) {
      exitWithError(error);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------
// This process.

/** The next `type` message of `child`, failing the figure if it takes longer than a step may. */
async function step<T extends { type: string }>(child: ChildProcess, type: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no '${type}' within ${STEP_LIMIT_MS / 1000} s`)),
      STEP_LIMIT_MS,
    );
  });
  try {
    return await Promise.race([nextMessage<T>(child, type), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Per connection: bytes above the baseline, divided by the connections. */
type PerConnection = Record<Moment, Usage>;

function perConnection(after: Usage, before: Usage, count: number): Usage {
  return {
    heap: (after.heap - before.heap) / count,
    heapTotal: (after.heapTotal - before.heapTotal) / count,
    rss: (after.rss - before.rss) / count,
    external: (after.external - before.external) / count,
    arrayBuffers: (after.arrayBuffers - before.arrayBuffers) / count,
  };
}

/** One run against `server`, a fresh server process for `side`. */
async function measureOnce(
  client: ChildProcess,
  server: ChildProcess,
  side: Side,
  count: number,
  snapshots?: string,
): Promise<PerConnection> {
  const t0 = Date.now();
  const lap = (what: string) =>
    process.env.BENCH_TRACE && console.log(`    ${side} ${what} at ${Date.now() - t0} ms`);
  const measure = async (connections: number) => {
    server.send({ type: 'measure', connections });
    return (await step<{ type: string; usage: Usage }>(server, 'memory')).usage;
  };
  const snapshot = async (moment: string) => {
    if (snapshots === undefined) return;
    server.send({
      type: 'snapshot',
      file: path.join(snapshots, `resp-${side}-${count}-${moment}.heapsnapshot`),
    });
    const { file } = await step<{ type: string; file: string }>(server, 'snapshot-written');
    console.log(`    ${side}: heap snapshot ${file}`);
  };
  try {
    const { port } = await step<{ type: string; port: number }>(server, 'listening');
    lap('listening');
    client.send({ type: 'warm-up', port, count: Math.min(WARM_UP_CONNECTIONS, count) });
    await step(client, 'warmed');
    lap('warmed');
    const before = await measure(0);
    await snapshot('baseline');
    lap('baseline');
    client.send({ type: 'open', port, count });
    await step(client, 'opened');
    lap('opened');
    const idle = await measure(count);
    lap('measured idle');
    client.send({ type: 'ping' });
    await step(client, 'pinged');
    lap('pinged');
    const pinged = await measure(count);
    await snapshot('ping');
    lap('measured after ping');
    client.send({ type: 'close' });
    await step(client, 'closed');
    lap('closed');
    return { idle: perConnection(idle, before, count), ping: perConnection(pinged, before, count) };
  } finally {
    if (server.connected) server.disconnect();
    await reap(server);
  }
}

function describeRun(side: Side, run: PerConnection): string {
  const show = (u: Usage) =>
    `heap ${u.heap.toFixed(0)} (committed ${u.heapTotal.toFixed(0)}), RSS ${u.rss.toFixed(0)}, ` +
    `external ${u.external.toFixed(0)} ` +
    `(array buffers ${u.arrayBuffers.toFixed(0)})`;
  return `    ${side === 'rx' ? 'rx-tcp' : 'raw   '} idle: ${show(run.idle)}; after PING: ${show(run.ping)}`;
}

export async function main(): Promise<FigureResult[]> {
  const snapshots = process.env.RESP_MEMORY_SNAPSHOTS;
  console.log(
    `RESP memory: ${CONNECTIONS} connections held by a RESP server, bytes per connection, ` +
      `idle and after one PING each${snapshots ? ` (one run per side, heap snapshots in ${snapshots})` : ''}`,
  );
  const rounds = snapshots ? 1 : roundsOr(5);
  const plan: Side[] = [];
  for (let round = 0; round < rounds; round++) plan.push(...sideOrder(round));
  const fresh = (i: number) => (i < plan.length ? forkRole(__filename, `server-${plan[i]}`) : undefined);
  const client = forkRole(__filename, 'client');
  // Each run gets a fresh server, forked while the previous run goes on (memory is per process).
  let next = fresh(0);
  const samples = {
    heap: { idle: { rx: [], raw: [] }, ping: { rx: [], raw: [] } },
    rss: { idle: { rx: [], raw: [] }, ping: { rx: [], raw: [] } },
  } as Record<'heap' | 'rss', Record<Moment, Record<Side, number[]>>>;
  try {
    await step(client, 'ready');
    for (let i = 0; i < plan.length; i++) {
      const server = next!;
      next = fresh(i + 1);
      const run = await measureOnce(client, server, plan[i], CONNECTIONS, snapshots);
      console.log(describeRun(plan[i], run));
      for (const moment of MOMENTS) {
        samples.heap[moment][plan[i]].push(run[moment].heap);
        samples.rss[moment][plan[i]].push(run[moment].rss);
      }
    }
  } finally {
    if (next !== undefined) {
      next.kill();
      await reap(next);
    }
    if (client.connected) client.disconnect();
    await reap(client);
  }
  if (snapshots) return [];
  const target = { ratio: 1.3, higherIsBetter: false };
  const results: FigureResult[] = [];
  const label = { idle: 'idle', ping: 'after one PING' };
  for (const moment of MOMENTS) {
    console.log(`  heap used per connection, ${label[moment]} (bytes):`);
    const heap = conclude(`RESP memory, heap, ${label[moment]}`, 'B/conn', samples.heap[moment], {
      reference: true,
    });
    console.log(`  RSS per connection, ${label[moment]} (bytes):`);
    const rss = conclude(`RESP memory, RSS, ${label[moment]}`, 'B/conn', samples.rss[moment], target, [
      `${CONNECTIONS} connections, ${label[moment]}; server process only, after a full GC; ` +
        'examples/resp-server.ts vs bench/raw-resp-server.ts',
    ]);
    results.push(heap, rss);
  }
  return results;
}

const role = process.env.BENCH_ROLE;
if (require.main === module && role !== undefined) {
  if (role === 'client') clientRole();
  else serverRole(role === 'server-rx' ? 'rx' : 'raw').catch(exitWithError);
} else {
  runIfMain(module, main);
}
