/**
 * Connect rate: 10 k sequential connect + close against a server, client and server in this process.
 *
 * - rx-tcp: `Server.create` whose handler is `reader.transfer(writer)` (it ends at the client's
 *   FIN, and the server then closes its side); the client is `connect(...)` then
 *   `connection.close()` (flush, FIN, then release the socket), waiting for it to complete.
 * - raw: a server that answers FIN with FIN (`allowHalfOpen: false`, Node's default); the client
 *   does what `Connection.close()` does: `socket.end(() => socket.destroy())`, waiting for 'close'.
 *
 * The figure is connections per second. A fresh server (port) per run keeps the client's
 * TIME_WAIT ports from colliding with the next run.
 *
 * Run alone with `npm run bench -- connect-rate`; `BENCH_QUICK=1` for 2 k.
 */
import * as net from 'node:net';
import { firstValueFrom } from 'rxjs';
import { connect, toHostAndPort } from '../src';
import { SECONDS_LONG_ROUNDS, secondsSince, sidesFigure, sized } from './common';
import { closed, closeRaw, listenRaw, startRxServer } from './servers';

const CONNECTIONS = sized(10_000, 2_000);

async function viaRx(count: number): Promise<number> {
  const server = await startRxServer((_address, reader, writer) => reader.transfer(writer));
  const where = toHostAndPort('127.0.0.1', server.listeningOn);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const connection = await firstValueFrom(connect(where));
    await closed(connection.close());
  }
  const seconds = secondsSince(start);
  await closed(server.close());
  return count / seconds;
}

async function viaRaw(count: number): Promise<number> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    socket.resume();
  });
  const port = await listenRaw(server);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      socket.on('error', reject);
      socket.on('close', () => resolve());
      socket.on('connect', () => socket.end(() => socket.destroy()));
    });
  }
  const seconds = secondsSince(start);
  await closeRaw(server);
  return count / seconds;
}

export const main = sidesFigure(module, {
  heading: `connect rate: ${CONNECTIONS} sequential connect + close, connections/s`,
  figure: 'connect rate',
  unit: 'connections/s',
  size: CONNECTIONS,
  rounds: SECONDS_LONG_ROUNDS,
  warmUpSize: CONNECTIONS / 5,
  target: { ratio: 0.9, higherIsBetter: true },
  note: `${CONNECTIONS} connections; connect + Connection.close() against Server.create vs net.connect + end/destroy`,
  sides: { rx: viaRx, raw: viaRaw },
});
