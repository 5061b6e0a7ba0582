/**
 * Reconnect latency: how soon a client following a server with `persistentConnection` is connected
 * again after the server restarts, against the `initialDelay` it was given.
 *
 * One `node:net` server on 127.0.0.1 and one client, in this process. A round: the client is
 * connected; the server drops its connection, stops listening and listens again on the same port
 * at once (`back`); the figure is the time from `back` to the client's next connection (when it
 * is emitted, or, raw, at `'connect'`). The client sees its connection end as the server stops,
 * waits `initialDelay` (100 ms, jitter off) and connects: the first attempt after the wait should
 * find the server back, so the latency should be `initialDelay` plus a connect, a fraction of a
 * millisecond on loopback.
 *
 * - rx-tcp: `persistentConnection(toHostAndPort(...), { retry: { initialDelay: 100, jitter: false } })`.
 * - raw: a `node:net` client that, on `'close'`, calls `net.connect` again after
 *   `setTimeout(initialDelay)`: the least a reconnecting client does, measured in the same run.
 *
 * The target is on latency / initialDelay (<= 1.2x): 1.0x and a little is the wait plus a connect;
 * 2x or more would mean the first attempt after the wait failed or the wait was not restarted at
 * `initialDelay`. The ratio column is rx-tcp / raw. Run alone with `npm run bench -- reconnect`;
 * `BENCH_QUICK=1` for 3 rounds.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import type { Subscription } from 'rxjs';
import { toHostAndPort } from '../src';
import { persistentConnection } from '../src/client/persistent-connection';
import { conclude, type FigureResult, median, roundsOr, runIfMain, type Side, sideOrder } from './common';

/** The client's `initialDelay`, in ms. */
const INITIAL_DELAY = 100;
/** The target: latency at most this many times `initialDelay`. */
const TARGET = 1.2;
/** Tries at binding the port again when something holds it for a moment. */
const BIND_TRIES = 50;

/** A `node:net` server that can be restarted on its port; it keeps the connections it accepts. */
class RestartingServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  async start(port = 0): Promise<void> {
    for (let tries = 1; ; tries++) {
      const server = net.createServer((socket) => {
        this.sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => this.sockets.delete(socket));
      });
      server.listen({ port, host: '127.0.0.1' });
      try {
        await once(server, 'listening');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries === BIND_TRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      this.server = server;
      this.port = (server.address() as net.AddressInfo).port;
      return;
    }
  }

  /** Drops every connection and stops listening. */
  async stop(): Promise<void> {
    const { server } = this;
    this.server = undefined;
    const closed = new Promise<void>((resolve) =>
      server === undefined ? resolve() : server.close(() => resolve()),
    );
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Stops, then listens again on the same port; resolves when it listens, with that moment. */
  async restart(): Promise<{ stopped: bigint; back: bigint }> {
    const stopped = process.hrtime.bigint();
    await this.stop();
    await this.start(this.port);
    return { stopped, back: process.hrtime.bigint() };
  }
}

/** A reconnecting client: `connected()` resolves at its next connection, with that moment. */
interface Client {
  connected(): Promise<bigint>;
  stop(): void;
}

/** One promise per connection, the next one made ready before the restart. */
function connections(): { next: () => Promise<bigint>; arrived: () => void } {
  let resolve: (at: bigint) => void = () => {};
  let pending = new Promise<bigint>((r) => (resolve = r));
  return {
    next: () => pending,
    arrived: () => {
      resolve(process.hrtime.bigint());
      pending = new Promise<bigint>((r) => (resolve = r));
    },
  };
}

function rxClient(port: number): Client {
  const { next, arrived } = connections();
  const subscription: Subscription = persistentConnection(toHostAndPort('127.0.0.1', port), {
    retry: { initialDelay: INITIAL_DELAY, jitter: false },
  }).subscribe({ next: arrived, error: (error) => console.error('rx-tcp client failed:', error) });
  return { connected: next, stop: () => subscription.unsubscribe() };
}

function rawClient(port: number): Client {
  const { next, arrived } = connections();
  let stopped = false;
  let socket: net.Socket;
  let timer: NodeJS.Timeout | undefined;
  const dial = () => {
    timer = undefined;
    socket = net.connect({ port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    socket.on('connect', arrived);
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!stopped) timer = setTimeout(dial, INITIAL_DELAY);
    });
  };
  dial();
  return {
    connected: next,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      socket.destroy();
    },
  };
}

/** One sample of `side`: a fresh client connects, the server restarts, the client comes back. */
async function measureSide(
  side: Side,
  server: RestartingServer,
): Promise<{ latency: number; restart: number }> {
  const client = (side === 'rx' ? rxClient : rawClient)(server.port);
  try {
    await client.connected();
    const next = client.connected();
    const { stopped, back } = await server.restart();
    const at = await next;
    return { latency: Number(at - back) / 1e6, restart: Number(back - stopped) / 1e6 };
  } finally {
    client.stop();
  }
}

export async function main(): Promise<FigureResult[]> {
  const rounds = roundsOr(7);
  console.log(
    `reconnect: time from a server restart to the client's next connection, initialDelay ${INITIAL_DELAY} ms, ms`,
  );
  const server = new RestartingServer();
  await server.start();
  const samples: Record<Side, number[]> = { rx: [], raw: [] };
  const restarts: number[] = [];
  try {
    for (const side of ['raw', 'rx'] as const) await measureSide(side, server); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const side of sideOrder(round)) {
        const { latency, restart } = await measureSide(side, server);
        samples[side].push(latency);
        restarts.push(restart);
      }
    }
  } finally {
    await server.stop();
  }
  const rxMedian = median(samples.rx);
  const notes = [
    `latency / initialDelay: rx-tcp ${(rxMedian / INITIAL_DELAY).toFixed(3)}x, raw ${(median(samples.raw) / INITIAL_DELAY).toFixed(3)}x ` +
      `(target <= ${TARGET}x for rx-tcp); the server was down ${median(restarts).toFixed(2)} ms (median) per restart`,
    `persistentConnection with retry { initialDelay: ${INITIAL_DELAY}, jitter: false } vs a net.connect loop reconnecting setTimeout(${INITIAL_DELAY}) after 'close'; one net.Server restarted on its port`,
  ];
  const target = {
    text: `<= ${TARGET}x initialDelay`,
    met: (rx: number[]) => median(rx) <= TARGET * INITIAL_DELAY,
  };
  return [conclude('reconnect after restart', 'ms', samples, target, notes, 2)];
}

runIfMain(module, main);
