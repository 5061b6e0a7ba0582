/**
 * The connect-rate workload, timed by `connect-rate.ts` and counted by `connect-instructions.ts`:
 * sequential connect + close from a client (rx-tcp's `connect` then `Connection.close()`, or
 * `node:net`) to a server reading each connection to EOF (rx-tcp's `Server.create`, or
 * `node:net`, reading its peer's address as rx-tcp's server does for its handler), both in this
 * process.
 */
import * as net from 'node:net';
import { firstValueFrom } from 'rxjs';
import { connect, type InetAddress, toHostAndPort, type WhereToConnect } from '../src';
import { type Side, secondsSince } from './common';
import { closed, closeRaw, listenRaw, startRxServer } from './servers';

/** Keeps the last peer address read, so that the reads cannot be optimised away. */
const peers = {
  last: '',
  note(host: string | undefined, port: number | undefined): void {
    this.last = `${host}:${port}`;
  },
};

/** A server reading each connection to EOF, then closing its side; `port` is where it listens. */
interface ReadToEof {
  port: number;
  close(): Promise<void>;
}

async function readToEof(side: Side): Promise<ReadToEof> {
  if (side === 'rx') {
    const server = await startRxServer((_address, reader) => reader);
    return { port: server.listeningOn, close: () => closed(server.close()) };
  }
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    // The same work as rx-tcp's handler gets for free: every real server reads its peer's address
    // (logs, limits), which costs a getpeername and a string per connection.
    peers.note(socket.remoteAddress, socket.remotePort);
    socket.resume();
  });
  return { port: await listenRaw(server), close: () => closeRaw(server) };
}

async function connectAndCloseRx(where: WhereToConnect<InetAddress>): Promise<void> {
  const connection = await firstValueFrom(connect(where));
  await closed(connection.close());
}

function connectAndCloseRaw(port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.on('connect', () => socket.end(() => socket.destroy()));
  });
}

/** Connections per second: `count` sequential connect + close from `client` to a `server`. */
export function measureConnectRate(server: Side, client: Side): (count: number) => Promise<number> {
  return async (count) => {
    const listening = await readToEof(server);
    const where = toHostAndPort('127.0.0.1', listening.port);
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      if (client === 'rx') await connectAndCloseRx(where);
      else await connectAndCloseRaw(listening.port);
    }
    const seconds = secondsSince(start);
    await listening.close();
    return count / seconds;
  };
}
