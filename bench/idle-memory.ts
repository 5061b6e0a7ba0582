/**
 * Idle memory: 10 k idle connections held open by an echo server; heap and RSS per connection of
 * the server process.
 *
 * Three processes per run, so that the process measured holds nothing but the server side:
 * - the server (fresh for every run): rx-tcp `Server.create` with `reader.transfer(writer)` as
 *   handler, or a raw `net.createServer((s) => s.pipe(s))`;
 * - the client (one for the whole figure, plain `node:net` for both sides): first opens and
 *   closes a few hundred connections so that the server's code is compiled, then opens 10 k
 *   connections, at most 32 connects in flight;
 * - this process, which alternates the sides and collects the figures.
 * The server measures itself after a full GC, once before the 10 k connections (after the warm-up)
 * and once they are all accepted; the difference divided by 10 k is the cost of one connection.
 *
 * Run alone with `npm run bench -- idle-memory`; `BENCH_QUICK=1` for 2 k.
 */
import type { ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import {
  conclude,
  exitWithError,
  type FigureResult,
  forkRole,
  KiB,
  type Memory,
  nextMessage,
  reap,
  roundsOr,
  runIfMain,
  type Side,
  settledMemory,
  sideOrder,
  sized,
} from './common';
import { closeAll, echoBack, listenRaw, openConnections, startRxServer } from './servers';

const CONNECTIONS = sized(10_000, 2_000);
const WARM_UP_CONNECTIONS = 500;
const CONNECTS_IN_FLIGHT = 64;

// ---------------------------------------------------------------------------------------------
// The server process.

async function serverRole(side: Side): Promise<void> {
  let open: () => number;
  if (side === 'rx') {
    const server = await startRxServer((_address, reader, writer) => reader.transfer(writer), {
      maxConnections: CONNECTIONS * 2,
      maxPendingConnections: 511,
    });
    open = () => server.numConnections;
    process.send!({ type: 'listening', port: server.listeningOn });
  } else {
    let count = 0;
    const server = net.createServer({ noDelay: true }, (socket) => {
      count++;
      socket.on('close', () => count--);
      echoBack(socket);
    });
    const port = await listenRaw(server, { host: '127.0.0.1', backlog: 511 });
    open = () => count;
    process.send!({ type: 'listening', port });
  }
  process.on('message', async (message: { type: string; connections: number }) => {
    if (message.type !== 'measure') return;
    while (open() !== message.connections) await new Promise((resolve) => setTimeout(resolve, 10));
    process.send!({ type: 'memory', memory: await settledMemory() });
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The client process: plain node:net whatever the server is.

function clientRole(): void {
  let held: net.Socket[] = [];
  process.on('message', async (message: { type: string; port: number; count: number }) => {
    if (message.type === 'warm-up') {
      await closeAll(await openConnections(message.port, message.count, CONNECTS_IN_FLIGHT));
      process.send!({ type: 'warmed' });
    } else if (message.type === 'open') {
      held = await openConnections(message.port, message.count, CONNECTS_IN_FLIGHT);
      process.send!({ type: 'opened' });
    } else if (message.type === 'close') {
      await closeAll(held);
      held = [];
      process.send!({ type: 'closed' });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------
// This process.

/** One run against `server`, a fresh server process for `side`. */
async function measureOnce(
  client: ChildProcess,
  server: ChildProcess,
  side: Side,
  count: number,
): Promise<Memory> {
  const t0 = Date.now();
  const lap = (what: string) =>
    process.env.BENCH_TRACE && console.log(`    ${side} ${what} at ${Date.now() - t0} ms`);
  try {
    const { port } = await nextMessage<{ type: string; port: number }>(server, 'listening');
    lap('listening');
    client.send({ type: 'warm-up', port, count: Math.min(WARM_UP_CONNECTIONS, count) });
    await nextMessage(client, 'warmed');
    lap('warmed');
    server.send({ type: 'measure', connections: 0 });
    const before = (await nextMessage<{ type: string; memory: Memory }>(server, 'memory')).memory;
    lap('baseline');
    client.send({ type: 'open', port, count });
    await nextMessage(client, 'opened');
    lap('opened');
    server.send({ type: 'measure', connections: count });
    const after = (await nextMessage<{ type: string; memory: Memory }>(server, 'memory')).memory;
    lap('measured');
    client.send({ type: 'close' });
    await nextMessage(client, 'closed');
    lap('closed');
    return { heap: (after.heap - before.heap) / count, rss: (after.rss - before.rss) / count };
  } finally {
    server.disconnect();
    await reap(server);
  }
}

export async function main(): Promise<FigureResult[]> {
  console.log(`idle memory: ${CONNECTIONS} idle connections held by an echo server, bytes per connection`);
  const rounds = roundsOr(5);
  const plan: Side[] = [];
  for (let round = 0; round < rounds; round++) plan.push(...sideOrder(round));
  const fresh = (i: number) => (i < plan.length ? forkRole(__filename, `server-${plan[i]}`) : undefined);
  const client = forkRole(__filename, 'client');
  // Each run gets a fresh server, forked while the previous run goes on (memory is per process).
  let next = fresh(0);
  await nextMessage(client, 'ready');
  const heap: Record<Side, number[]> = { rx: [], raw: [] };
  const rss: Record<Side, number[]> = { rx: [], raw: [] };
  try {
    for (let i = 0; i < plan.length; i++) {
      const server = next!;
      next = fresh(i + 1);
      const memory = await measureOnce(client, server, plan[i], CONNECTIONS);
      heap[plan[i]].push(memory.heap);
      rss[plan[i]].push(memory.rss);
    }
  } finally {
    next?.kill();
    client.disconnect();
    await reap(client);
  }
  console.log('  heap used per connection (bytes):');
  const heapResult = conclude('idle memory, heap', 'B/conn', heap, { ratio: 1.3, higherIsBetter: false });
  console.log('  RSS per connection (bytes):');
  const rssResult = conclude('idle memory, RSS', 'B/conn', rss, { ratio: 1.3, higherIsBetter: false }, [
    `${CONNECTIONS} connections; server process only, after a full GC; echo server (transfer vs pipe)`,
  ]);
  const sum = (side: Side) => ((heapResult[side] + rssResult[side]) / KiB).toFixed(1);
  console.log(`  heap + RSS: rx-tcp ${sum('rx')} KiB/conn, raw ${sum('raw')} KiB/conn`);
  return [heapResult, rssResult];
}

const role = process.env.BENCH_ROLE;
if (require.main === module && role !== undefined) {
  if (role === 'client') clientRole();
  else serverRole(role === 'server-rx' ? 'rx' : 'raw').catch(exitWithError);
} else {
  runIfMain(module, main);
}
