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
import { once } from 'node:events';
import * as net from 'node:net';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { connect, onPortChosenByOs, Server, toHostAndPort } from '../src';
import {
  alternateSides,
  conclude,
  type FigureResult,
  roundsOr,
  runIfMain,
  type Side,
  secondsSince,
  serveSide,
  sized,
} from './common';

const CONNECTIONS = sized(10_000, 2_000);

async function viaRx(count: number): Promise<number> {
  const server = await firstValueFrom(
    Server.create(onPortChosenByOs, (_address, reader, writer) => reader.transfer(writer)),
  );
  const where = toHostAndPort('127.0.0.1', server.listeningOn);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const connection = await firstValueFrom(connect(where));
    await lastValueFrom(connection.close(), { defaultValue: undefined });
  }
  const seconds = secondsSince(start);
  await lastValueFrom(server.close(), { defaultValue: undefined });
  return count / seconds;
}

async function viaRaw(count: number): Promise<number> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    socket.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
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
  await new Promise((resolve) => server.close(resolve));
  return count / seconds;
}

function run(side: Side, count: number): Promise<number> {
  return side === 'rx' ? viaRx(count) : viaRaw(count);
}

export async function main(): Promise<FigureResult[]> {
  console.log(`connect rate: ${CONNECTIONS} sequential connect + close, connections/s`);
  const samples = await alternateSides(__filename, roundsOr(5), CONNECTIONS, CONNECTIONS / 5);
  return [
    conclude('connect rate', 'connections/s', samples, { ratio: 0.9, higherIsBetter: true }, [
      `${CONNECTIONS} connections; connect + Connection.close() against Server.create vs net.connect + end/destroy`,
    ]),
  ];
}

if (!serveSide(module, run)) runIfMain(module, main);
