/**
 * Connection pool: request/response throughput of `ConnectionPool`, side by side in one run with
 * a new connection per request, and with raw `node:net` behind a hand-written pool of the same size.
 *
 * One server for the three, in a process of its own: the raw line echo of the ping-pong figures.
 * Each client runs in a process of its own too, and is asked for a run in turn, the order rotating
 * each round. In each, 32 callers loop: send a line, await its answer, until the run's count.
 *
 * - pool: `ConnectionPool.create(where, { maxConnections: 8 })`, each request
 *   `await lastValueFrom(pool.use(({ reader, writer }) => { writer.writeLine(req); return reader.readLine(); }))`;
 *   the pool (and its connections) lives across runs, as a client's would.
 * - a connection per request: the same `f` through `withConnection(where, f)`: connect, ask, close.
 * - raw pool: 8 `net.Socket`s, a free list and a FIFO of waiters; each request takes a socket,
 *   `socket.write`s, awaits a promise resolved by the next line of `'data'`, and gives it back.
 * - hand pool: that same free list over 8 rx-tcp connections, each request `writeLine` then
 *   `await firstValueFrom(reader.readLine())`: what the pool costs beyond rx-tcp's reads and writes.
 *
 * Three rows: pool / a connection per request (target >= 5x), pool / raw pool (target >= 0.9x),
 * and, for reference, pool / hand pool.
 * Run alone with `npm run bench -- pool`; `BENCH_QUICK=1` for smaller counts.
 */
import type { ChildProcess } from 'node:child_process';
import type * as net from 'node:net';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { type Connection, connect, toHostAndPort, withConnection } from '../src';
import { ConnectionPool } from '../src/client/connection-pool';
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
  secondsSince,
  sized,
} from './common';
import { onLines, rawEchoLines } from './ping-pong';
import { connectRaw, listenRaw } from './servers';

const POOL_SIZE = 8;
const CALLERS = 32;
/** Requests per run through a pool; fewer with a connection each, whose client ports sit in TIME_WAIT. */
const POOLED = sized(40_000, 4_000);
const PER_CONNECTION = sized(2_000, 300);
const REQUEST = 'ping';

const WAYS = ['pool', 'perConnection', 'rawPool', 'handPool'] as const;
type Way = (typeof WAYS)[number];
const SIZES: Record<Way, number> = {
  pool: POOLED,
  perConnection: PER_CONNECTION,
  rawPool: POOLED,
  handPool: POOLED,
};

/** Runs `count` requests with `call`, `CALLERS` at a time; returns requests per second. */
async function callers(count: number, call: () => Promise<void>): Promise<number> {
  let started = 0;
  const start = process.hrtime.bigint();
  const caller = async () => {
    while (started++ < count) await call();
  };
  await Promise.all(Array.from({ length: CALLERS }, caller));
  return count / secondsSince(start);
}

function check(way: Way, answer: unknown): void {
  if (answer !== REQUEST) throw new Error(`${way}: answered ${String(answer)}`);
}

const ask = ({ reader, writer }: Connection) => {
  writer.writeLine(REQUEST);
  return reader.readLine();
};

/** A hand-written pool, the least a client sharing connections does: a free list and a FIFO. */
class HandPool<C> {
  private readonly idle: C[] = [];
  private readonly waiters: ((connection: C) => void)[] = [];
  private open = 0;

  constructor(
    private readonly connect: () => Promise<C>,
    private readonly size: number,
  ) {}

  async acquire(): Promise<C> {
    const idle = this.idle.pop();
    if (idle !== undefined) return idle;
    if (this.open < this.size) {
      this.open++;
      return this.connect();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(connection: C): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(connection);
    else this.idle.push(connection);
  }
}

class RawConnection {
  private answered: ((line: string) => void) | undefined;

  constructor(private readonly socket: net.Socket) {
    onLines(socket, (line) => {
      const answered = this.answered!;
      this.answered = undefined;
      answered(line);
    });
  }

  ask(line: string): Promise<string> {
    return new Promise((resolve) => {
      this.answered = resolve;
      this.socket.write(`${line}\n`);
    });
  }
}

/** One way's measurement, set up once in its process. */
function measureOf(way: Way, port: number): (count: number) => Promise<number> {
  const where = toHostAndPort('127.0.0.1', port);
  if (way === 'pool') {
    const pool = ConnectionPool.create(where, { maxConnections: POOL_SIZE });
    return (count) => callers(count, async () => check(way, await lastValueFrom(pool.use(ask))));
  }
  if (way === 'perConnection') {
    return (count) => callers(count, async () => check(way, await lastValueFrom(withConnection(where, ask))));
  }
  if (way === 'handPool') {
    const pool = new HandPool(() => firstValueFrom(connect(where)), POOL_SIZE);
    return (count) =>
      callers(count, async () => {
        const connection = await pool.acquire();
        connection.writer.writeLine(REQUEST);
        const answer = await firstValueFrom(connection.reader.readLine());
        pool.release(connection);
        check(way, answer);
      });
  }
  const pool = new HandPool(async () => new RawConnection(await connectRaw(port)), POOL_SIZE);
  return (count) =>
    callers(count, async () => {
      const connection = await pool.acquire();
      const answer = await connection.ask(REQUEST);
      pool.release(connection);
      check(way, answer);
    });
}

/** In a child: the server, or one way's client, until the parent disconnects. */
async function serveRole(role: string): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  if (role === 'pool-server') {
    const port = await listenRaw(rawEchoLines());
    process.send!({ type: 'ready', port });
    return;
  }
  const measure = measureOf(role.slice('pool-'.length) as Way, Number(process.argv[2]));
  process.on('message', (message: { type: string; size: number }) => {
    if (message.type !== 'run') return;
    gc();
    measure(message.size).then((value) => process.send!({ type: 'sample', value }), exitWithError);
  });
  process.send!({ type: 'ready' });
}

export async function main(): Promise<FigureResult[]> {
  console.log(
    `connection pool: ${CALLERS} callers, request/response on a line echo; a pool of ${POOL_SIZE} ` +
      `(${POOLED} requests), a connection per request (${PER_CONNECTION}), raw node:net with a pool of ${POOL_SIZE} (${POOLED}), rx-tcp connections with that pool (${POOLED}); requests/s`,
  );
  const children: ChildProcess[] = [];
  try {
    const server = forkRole(__filename, 'pool-server');
    children.push(server);
    const { port } = await nextMessage<{ type: string; port: number }>(server, 'ready');
    const clients = {} as Record<Way, ChildProcess>;
    for (const way of WAYS) {
      clients[way] = forkRole(__filename, `pool-${way}`, [String(port)]);
      children.push(clients[way]);
    }
    await Promise.all(WAYS.map((way) => nextMessage(clients[way], 'ready')));
    const run = async (way: Way, size: number) => {
      const reply = nextMessage<{ type: string; value: number }>(clients[way], 'sample');
      clients[way].send({ type: 'run', size });
      return (await reply).value;
    };
    for (const way of WAYS) await run(way, Math.ceil(SIZES[way] / 4));
    const samples: Record<Way, number[]> = { pool: [], perConnection: [], rawPool: [], handPool: [] };
    const rounds = roundsOr(5);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < WAYS.length; i++) {
        const way = WAYS[(round + i) % WAYS.length];
        samples[way].push(await run(way, SIZES[way]));
      }
    }
    const unit = 'requests/s';
    return [
      conclude(
        'pool vs a connection per request',
        unit,
        { rx: samples.pool, raw: samples.perConnection },
        { ratio: 5, higherIsBetter: true },
        [
          `${CALLERS} callers; ConnectionPool of ${POOL_SIZE} (pool.use) vs withConnection per request; raw column: a connection per request`,
        ],
      ),
      conclude(
        'pool vs raw node:net pool',
        unit,
        { rx: samples.pool, raw: samples.rawPool },
        { ratio: 0.9, higherIsBetter: true },
        [`${CALLERS} callers; ConnectionPool of ${POOL_SIZE} vs net.Socket x ${POOL_SIZE} with a free list`],
      ),
      conclude(
        'pool vs a hand pool of rx-tcp connections',
        unit,
        { rx: samples.pool, raw: samples.handPool },
        { reference: true },
        [
          `${CALLERS} callers; raw column: the free list of the raw pool over ${POOL_SIZE} rx-tcp connections`,
        ],
      ),
    ];
  } finally {
    for (const child of children) if (child.connected) child.disconnect();
    await Promise.all(children.map((child) => reap(child)));
  }
}

const role = process.env.BENCH_ROLE;
if (require.main === module && role?.startsWith('pool-')) serveRole(role).catch(exitWithError);
else runIfMain(module, main);
