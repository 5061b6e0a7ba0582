/**
 * The servers the figures measure and the clients that load them, as several figures set them up:
 * an rx-tcp `Server.create` on a port the OS picks and rx-tcp's `connect` to it, a raw `node:net`
 * (or `node:tls`) server listening likewise and a `node:net` client of it, the raw echo handler,
 * and the bulk echo clients that `bench/bulk-echo.ts` and `bench/tls.ts` share.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { firstValueFrom, lastValueFrom, type Observable } from 'rxjs';
import {
  type Connection,
  type ConnectOptions,
  connect,
  type Handler,
  type InetAddress,
  Server,
  type ServerOptions,
  toHostAndPort,
  WhereToListen,
} from '../src';
import { KiB, secondsSince } from './common';

/** An rx-tcp server on a port the OS picked. */
export type RxServer = Server<InetAddress, number>;

/**
 * A port the OS picks on 127.0.0.1, where the raw servers listen too: `onPortChosenByOs` binds
 * `::`, and a dual-stack socket takes IPv4 connections on a slightly longer path in the kernel.
 */
export const onLoopbackPortChosenByOs = WhereToListen.create({
  socketType: 'inet',
  address: { family: 'inet', host: '127.0.0.1', port: 0 },
  listeningOn: (bound) => bound.port,
});

/** `Server.create` on a port the OS picks on 127.0.0.1, once it listens. */
export function startRxServer(
  handler: Handler<InetAddress>,
  options?: ServerOptions<InetAddress>,
): Promise<RxServer> {
  return firstValueFrom(Server.create(onLoopbackPortChosenByOs, handler, options));
}

/** An rx-tcp connection to `server` on 127.0.0.1, once connected. */
export function connectRx(server: RxServer, options?: ConnectOptions): Promise<Connection<InetAddress>> {
  return firstValueFrom(connect(toHostAndPort('127.0.0.1', server.listeningOn), options));
}

/** Waits for the end of an rx-tcp `close()` (which emits nothing, or one `undefined`). */
export function closed(closing: Observable<void>): Promise<void> {
  return lastValueFrom(closing, { defaultValue: undefined });
}

/** Closes `server` and every connection it still serves, and waits until they are all closed. */
export function closeRxServer(server: RxServer): Promise<void> {
  return closed(server.close({ closeExistingConnections: true }));
}

/**
 * Starts a raw `server` listening on a port the OS picks, on 127.0.0.1 (where the clients
 * connect) unless `options` say otherwise, and returns that port once it listens.
 */
export async function listenRaw(
  server: net.Server,
  options: Omit<net.ListenOptions, 'port'> = { host: '127.0.0.1' },
): Promise<number> {
  server.listen({ ...options, port: 0 });
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** Closes a raw `server` and waits until it is closed. */
export function closeRaw(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The connection handler of a raw echo server, `(s) => s.pipe(s)`; errors are ignored (a client
 * may reset its connection when its run ends).
 */
export function echoBack(socket: net.Socket): void {
  socket.on('error', () => {});
  socket.pipe(socket);
}

/** A raw `node:net` client of 127.0.0.1:`port`, once connected; no-delay, as rx-tcp's clients are. */
export async function connectRaw(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await once(socket, 'connect');
  return socket;
}

/** What the bulk echo clients write, 64 KiB at a time. */
const CHUNK = Buffer.alloc(64 * KiB, 'x');
/** Both bulk echo clients wait once this many bytes are queued: Node's default high-water mark. */
const HIGH_WATER = 16 * KiB;

/**
 * The rx-tcp bulk echo client: writes `total` bytes on `connection` in 64 KiB writes, waiting for
 * `writer.flushed()` whenever bytes are queued (as a raw client waits for 'drain'), counts what
 * comes back with a push subscription to its reader, then closes the connection. Returns MB/s
 * (10^6 bytes) from the first write to the last byte echoed back.
 */
export async function echoRx(connection: Connection, total: number): Promise<number> {
  const { reader, writer } = connection;
  const start = process.hrtime.bigint();
  let received = 0;
  const echoed = new Promise<void>((resolve, reject) => {
    reader.subscribe({
      next: (chunk) => {
        received += chunk.length;
        if (received >= total) resolve();
      },
      error: reject,
      complete: () => reject(new Error(`echo ended after ${received} bytes`)),
    });
  });
  for (let sent = 0; sent < total; sent += CHUNK.length) {
    writer.write(CHUNK);
    if (writer.bytesToWrite >= HIGH_WATER) await firstValueFrom(writer.flushed());
  }
  await echoed;
  const seconds = secondsSince(start);
  if (received !== total) throw new Error(`rx-tcp: ${received} bytes echoed, expected ${total}`);
  await closed(connection.close());
  return total / 1e6 / seconds;
}

/**
 * The raw bulk echo client: writes `total` bytes on `socket` (connected, plain or TLS) in 64 KiB
 * writes while `write()` returns true, else waits for 'drain', counts 'data', then destroys the
 * socket. Returns MB/s (10^6 bytes) from the first write to the last byte echoed back.
 */
export async function echoRaw(socket: net.Socket, total: number): Promise<number> {
  const start = process.hrtime.bigint();
  let received = 0;
  const echoed = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= total) resolve();
    });
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`echo ended after ${received} bytes`)));
  });
  for (let sent = 0; sent < total; sent += CHUNK.length) {
    if (!socket.write(CHUNK)) await once(socket, 'drain');
  }
  await echoed;
  const seconds = secondsSince(start);
  if (received !== total) throw new Error(`raw: ${received} bytes echoed, expected ${total}`);
  socket.destroy();
  return total / 1e6 / seconds;
}

/** Opens `count` plain node:net connections to 127.0.0.1:`port`, at most `inFlight` connects at a time. */
export async function openConnections(port: number, count: number, inFlight: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.on('error', () => {});
      await once(socket, 'connect');
      sockets.push(socket);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return sockets;
}

/** Ends every socket and resolves once all are closed. */
export async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(
    sockets.map((socket) => {
      const closed = once(socket, 'close');
      socket.end();
      return closed;
    }),
  );
}
