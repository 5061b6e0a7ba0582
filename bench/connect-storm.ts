/**
 * Connect storm: 10 k clients, 20 connects in flight at a time, against a server left with its
 * default options; seconds until every client has connected, had one echo and closed.
 *
 * - rx-tcp: `Server.create(where, handler)` with no options (its default backlog,
 *   `maxConnections` and `maxPendingConnections`), the handler `reader.transfer(writer)`;
 * - raw: `net.createServer()` with its defaults and `(s) => s.pipe(s)`, listening with Node's
 *   default backlog.
 *
 * Three processes: the server (fresh for every run, started before it, so that each run meets a
 * server that has just started, as a storm after a restart does), the client (plain `node:net`
 * for both sides, one for the whole figure) and this process. At most 20 clients are connecting
 * at any time; once connected, a client makes room for the next connect and goes on by itself: it
 * writes one line, waits for it to come back, sends FIN and waits for the server's. The time runs
 * from the first connect to the last close.
 *
 * The kernel completes connections faster than a busy server accepts them, so the listen queue
 * fills, and a SYN arriving at a full queue is dropped: the client sends it again after 1 s (in
 * groups of 20, every connect in flight at once). Those stalls make most of the time and most of
 * its variation; each run counts its connects that took 1 s or more, and the kernel's count of
 * listen queue overflows (`TcpExt:ListenOverflows`, for the whole network namespace). One
 * unmeasured run of each side first warms the client up. A run that takes longer than 120 s is stopped and counted
 * as 120 s, and the figure marked as not met.
 *
 * Run alone with `npm run bench -- connect-storm`; `BENCH_QUICK=1` for 2 k clients.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import {
  conclude,
  exitWithError,
  type FigureResult,
  forkRole,
  nextMessage,
  reap,
  roundsOr,
  runIfMain,
  type Side,
  sideOrder,
  sized,
} from './common';
import { echoBack, listenRaw, startRxServer } from './servers';

const CLIENTS = sized(10_000, 2_000);
const IN_FLIGHT = 20;
/** The longest a run may take; past it the run is stopped and the figure not met. */
const RUN_LIMIT_MS = 120_000;
const LINE = Buffer.from('ping\n');

/** What the client reports of one storm. */
interface Storm {
  /** Seconds from the first connect to the last close (the limit, if it was reached). */
  seconds: number;
  /** Clients that connected, got their echo and closed. */
  done: number;
  /** Clients whose connection failed (refused, reset, closed early). */
  failed: number;
  /** The run was stopped at the limit. */
  timedOut: boolean;
  /** Connects that took 1 s or more: a SYN dropped and sent again. */
  slowConnects: number;
  /** The longest connect, in ms. */
  maxConnectMs: number;
}

// ---------------------------------------------------------------------------------------------
// The server process.

async function serverRole(side: Side): Promise<void> {
  let port: number;
  if (side === 'rx') {
    const server = await startRxServer((_address, reader, writer) => reader.transfer(writer));
    port = server.listeningOn;
  } else {
    port = await listenRaw(net.createServer(echoBack));
  }
  process.send!({ type: 'listening', port });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The client process: plain node:net whatever the server is.

/** One client's life: its connect (in ms, rejected if it fails), then its echo and close. */
interface Client {
  connected: Promise<number>;
  finished: Promise<void>;
}

/** One client: connect, one line echoed, FIN both ways. */
function oneClient(port: number, live: Set<net.Socket>): Client {
  const start = process.hrtime.bigint();
  let received = 0;
  let echoed = false;
  let isConnected = false;
  const socket = net.connect({ port, host: '127.0.0.1' });
  live.add(socket);
  socket.on('error', () => {});
  const connected = new Promise<number>((resolve, reject) => {
    socket.once('connect', () => {
      isConnected = true;
      resolve(Number(process.hrtime.bigint() - start) / 1e6);
      socket.write(LINE);
    });
    socket.once('close', () => {
      if (!isConnected) reject(new Error('connect failed'));
    });
  });
  const finished = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= LINE.length && !echoed) {
        echoed = true;
        socket.end();
      }
    });
    socket.once('close', () => {
      live.delete(socket);
      if (echoed) resolve();
      else reject(new Error(`closed after ${received} bytes`));
    });
  });
  return { connected, finished };
}

/**
 * `count` clients, at most `IN_FLIGHT` of them connecting at a time: once connected, a client
 * frees its place for the next connect and goes on with its echo and close by itself.
 */
async function storm(port: number, count: number): Promise<Storm> {
  const live = new Set<net.Socket>();
  let next = 0;
  let done = 0;
  let failed = 0;
  let slowConnects = 0;
  let maxConnectMs = 0;
  let stopped = false;
  const start = process.hrtime.bigint();
  const limit = setTimeout(() => {
    stopped = true;
    for (const socket of live) socket.destroy();
  }, RUN_LIMIT_MS);
  const conversations: Promise<void>[] = [];
  const worker = async () => {
    while (next < count && !stopped) {
      next++;
      const client = oneClient(port, live);
      conversations.push(
        client.finished.then(
          () => {
            done++;
          },
          () => {
            if (!stopped) failed++;
          },
        ),
      );
      try {
        const connectMs = await client.connected;
        if (connectMs >= 1000) slowConnects++;
        maxConnectMs = Math.max(maxConnectMs, connectMs);
      } catch {
        // Counted as failed by its conversation.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker));
  await Promise.all(conversations);
  clearTimeout(limit);
  const seconds = stopped ? RUN_LIMIT_MS / 1000 : Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, done, failed, timedOut: stopped, slowConnects, maxConnectMs };
}

function clientRole(): void {
  process.on('message', (message: { type: string; port: number; count: number }) => {
    if (message.type !== 'storm') return;
    storm(message.port, message.count).then(
      (result) => process.send!({ type: 'stormed', result }),
      exitWithError,
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------
// This process.

/** The backlog of the socket listening on `port`, as `ss` reports it (its Send-Q), if it can. */
function listenBacklog(port: number): string {
  const ss = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8', timeout: 5_000 });
  const columns = ss.status === 0 ? ss.stdout.trim().split(/\s+/) : [];
  return columns.length >= 3 ? columns[2] : 'unknown';
}

/**
 * The kernel's count of connections dropped because a listen queue was full (`TcpExt:
 * ListenOverflows` in `/proc/net/netstat`, for every socket of this network namespace), or NaN
 * where it cannot be read.
 */
function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i].split(/\s+/);
      const at = names.indexOf('ListenOverflows');
      if (names[0] === 'TcpExt:' && at !== -1) return Number(lines[i + 1].split(/\s+/)[at]);
    }
  } catch {
    // Not Linux, or no /proc: the figure goes without it.
  }
  return Number.NaN;
}

/** The next `type` message of `child`, or a failure once a run's limit (and some) has passed. */
async function within<T extends { type: string }>(child: ChildProcess, type: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no '${type}' within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([nextMessage<T>(child, type), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One storm against a fresh server process for `side`, forked now, not during the previous run:
 * starting a process would take a core from it.
 */
async function stormOnce(client: ChildProcess, side: Side, count: number) {
  const server = forkRole(__filename, `server-${side}`);
  try {
    const { port } = await within<{ type: string; port: number }>(server, 'listening', 30_000);
    const backlog = listenBacklog(port);
    const overflowsBefore = listenOverflows();
    client.send({ type: 'storm', port, count });
    const { result } = await within<{ type: string; result: Storm }>(
      client,
      'stormed',
      RUN_LIMIT_MS + 30_000,
    );
    return { ...result, backlog, overflows: listenOverflows() - overflowsBefore };
  } finally {
    if (server.connected) server.disconnect();
    await reap(server);
  }
}

export async function main(): Promise<FigureResult[]> {
  console.log(
    `connect storm: ${CLIENTS} clients, ${IN_FLIGHT} connects in flight, each one echo then close, ` +
      'against servers with default options; seconds for all',
  );
  const rounds = roundsOr(5);
  // One unmeasured run of each side, then alternating rounds.
  const plan: { side: Side; measured: boolean }[] = [
    { side: 'raw', measured: false },
    { side: 'rx', measured: false },
  ];
  for (let round = 0; round < rounds; round++) {
    for (const side of sideOrder(round)) plan.push({ side, measured: true });
  }
  const client = forkRole(__filename, 'client');
  const samples: Record<Side, number[]> = { rx: [], raw: [] };
  const timedOut: Record<Side, number> = { rx: 0, raw: 0 };
  const slow: Record<Side, number[]> = { rx: [], raw: [] };
  const overflows: Record<Side, number[]> = { rx: [], raw: [] };
  const failures: Record<Side, number> = { rx: 0, raw: 0 };
  const backlogs: Record<Side, Set<string>> = { rx: new Set(), raw: new Set() };
  try {
    await within(client, 'ready', 30_000);
    for (let i = 0; i < plan.length; i++) {
      const { side, measured } = plan[i];
      const run = await stormOnce(client, side, CLIENTS);
      console.log(
        `    ${side === 'rx' ? 'rx-tcp' : 'raw   '} ${run.seconds.toFixed(2)} s${measured ? '' : ' (warm-up)'}` +
          `${run.timedOut ? ` TIMED OUT with ${run.done} of ${CLIENTS} done` : ''}; ` +
          `${run.failed} failed, ${run.slowConnects} connects >= 1 s, longest ${run.maxConnectMs.toFixed(0)} ms; ` +
          `listen backlog ${run.backlog}, listen queue overflows ${run.overflows}`,
      );
      if (!measured) continue;
      samples[side].push(run.seconds);
      slow[side].push(run.slowConnects);
      overflows[side].push(run.overflows);
      failures[side] += run.failed;
      if (run.timedOut) timedOut[side]++;
      backlogs[side].add(run.backlog);
    }
  } finally {
    if (client.connected) client.disconnect();
    await reap(client);
  }
  const notes = [
    `${CLIENTS} clients, ${IN_FLIGHT} in flight, connect + one echo + close; servers with default options, ` +
      `fresh per run; listen backlog (ss) rx-tcp ${[...backlogs.rx].join('/')}, raw ${[...backlogs.raw].join('/')}`,
    `connects >= 1 s (SYN retransmitted) per run: rx-tcp ${slow.rx.join(' ')}, raw ${slow.raw.join(' ')}; ` +
      `listen queue overflows (kernel, whole namespace) rx-tcp ${overflows.rx.join(' ')}, raw ${overflows.raw.join(' ')}; ` +
      `failed connections: rx-tcp ${failures.rx}, raw ${failures.raw}`,
  ];
  if (timedOut.rx + timedOut.raw > 0) {
    notes.push(
      `TIMED OUT (stopped at ${RUN_LIMIT_MS / 1000} s, counted as such): rx-tcp ${timedOut.rx} runs, raw ${timedOut.raw} runs`,
    );
  }
  const result = conclude('connect storm', 's', samples, { ratio: 2, higherIsBetter: false }, notes, 2);
  if (timedOut.rx + timedOut.raw + failures.rx + failures.raw > 0 && result.met) {
    result.met = false;
    console.log('  target NOT met after all: runs timed out or connections failed');
  }
  return [result];
}

const role = process.env.BENCH_ROLE;
if (require.main === module && role !== undefined) {
  if (role === 'client') clientRole();
  else serverRole(role === 'server-rx' ? 'rx' : 'raw').catch(exitWithError);
} else {
  runIfMain(module, main);
}
