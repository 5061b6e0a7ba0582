/**
 * Bulk echo: 1 GiB through an echo server in 64 KiB writes, client and server in this process.
 *
 * - rx-tcp: `Server.create` whose handler is `reader.transfer(writer)`; the client writes with
 *   `writer.write` and waits for `writer.flushed()` whenever bytes are queued (as a raw client
 *   waits for 'drain'), and counts what comes back with a push subscription to its reader.
 * - raw: `net.createServer((s) => s.pipe(s))`; the client writes while `write()` returns true,
 *   else waits for 'drain', and counts 'data'.
 *
 * Both use no-delay sockets (rx-tcp's default) and the same 64 KiB buffer. The figure is MB/s
 * (10^6 bytes) from the first write to the last byte echoed back.
 *
 * Run alone with `npm run bench -- bulk-echo`; `BENCH_QUICK=1` for 128 MiB.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { connect, onPortChosenByOs, Server, toHostAndPort } from '../src';
import {
  alternateSides,
  conclude,
  type FigureResult,
  KiB,
  MiB,
  roundsOr,
  runIfMain,
  type Side,
  secondsSince,
  serveSide,
  sized,
} from './common';

const TOTAL = sized(1024 * MiB, 128 * MiB);
const CHUNK = Buffer.alloc(64 * KiB, 'x');
/** Both clients wait once this many bytes are queued: Node's default high-water mark. */
const HIGH_WATER = 16 * KiB;

async function viaRx(total: number): Promise<number> {
  const server = await firstValueFrom(
    Server.create(onPortChosenByOs, (_address, reader, writer) => reader.transfer(writer)),
  );
  const connection = await firstValueFrom(connect(toHostAndPort('127.0.0.1', server.listeningOn)));
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
  await lastValueFrom(connection.close(), { defaultValue: undefined });
  await lastValueFrom(server.close({ closeExistingConnections: true }), { defaultValue: undefined });
  return total / 1e6 / seconds;
}

async function viaRaw(total: number): Promise<number> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await once(socket, 'connect');
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
  await new Promise((resolve) => server.close(resolve));
  return total / 1e6 / seconds;
}

function run(side: Side, total: number): Promise<number> {
  return side === 'rx' ? viaRx(total) : viaRaw(total);
}

export async function main(): Promise<FigureResult[]> {
  console.log(`bulk echo: ${TOTAL / MiB} MiB in 64 KiB writes through an echo server, MB/s`);
  const samples = await alternateSides(__filename, roundsOr(5), TOTAL, TOTAL / 8);
  return [
    conclude('bulk echo', 'MB/s', samples, { ratio: 0.95, higherIsBetter: true }, [
      `${TOTAL / MiB} MiB through Server.create + reader.transfer(writer) vs socket.pipe(socket)`,
    ]),
  ];
}

if (!serveSide(module, run)) runIfMain(module, main);
