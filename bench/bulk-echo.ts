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
 * (10^6 bytes) from the first write to the last byte echoed back. The clients (`bench/servers.ts`)
 * are those of the TLS bulk echo (`bench/tls.ts`) too.
 *
 * Run alone with `npm run bench -- bulk-echo`; `BENCH_QUICK=1` for 128 MiB.
 */
import * as net from 'node:net';
import { MiB, SECONDS_LONG_ROUNDS, sidesFigure, sized } from './common';
import {
  closeRaw,
  closeRxServer,
  connectRaw,
  connectRx,
  echoBack,
  echoRaw,
  echoRx,
  listenRaw,
  startRxServer,
} from './servers';

const TOTAL = sized(1024 * MiB, 128 * MiB);

async function viaRx(total: number): Promise<number> {
  const server = await startRxServer((_address, reader, writer) => reader.transfer(writer));
  const rate = await echoRx(await connectRx(server), total);
  await closeRxServer(server);
  return rate;
}

async function viaRaw(total: number): Promise<number> {
  const server = net.createServer({ noDelay: true }, echoBack);
  const rate = await echoRaw(await connectRaw(await listenRaw(server)), total);
  await closeRaw(server);
  return rate;
}

export const main = sidesFigure(module, {
  heading: `bulk echo: ${TOTAL / MiB} MiB in 64 KiB writes through an echo server, MB/s`,
  figure: 'bulk echo',
  unit: 'MB/s',
  size: TOTAL,
  rounds: SECONDS_LONG_ROUNDS,
  warmUpSize: TOTAL / 8,
  target: { ratio: 0.95, higherIsBetter: true },
  note: `${TOTAL / MiB} MiB through Server.create + reader.transfer(writer) vs socket.pipe(socket)`,
  sides: { rx: viaRx, raw: viaRaw },
});
