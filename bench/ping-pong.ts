/**
 * Ping-pong: 100 k request/response round trips of a short line on one connection, client and
 * server in this process, one request outstanding at a time.
 *
 * - rx-tcp: both sides loop on `await firstValueFrom(reader.readLine())` and `writer.writeLine`
 *   (the server inside `Server.create`).
 * - raw: both sides split 'data' on `\n` by hand (keeping a partial line) and `socket.write` the
 *   answer; no-delay on, as rx-tcp sets it.
 *
 * The figure is round trips per second.
 *
 * Run alone with `npm run bench -- ping-pong`; `BENCH_QUICK=1` for 10 k.
 */
import * as net from 'node:net';
import { firstValueFrom } from 'rxjs';
import { EOF, type Reader, type Writer } from '../src';
import { secondsSince, sidesFigure, sized } from './common';
import { closed, closeRaw, closeRxServer, connectRaw, connectRx, listenRaw, startRxServer } from './servers';

const ROUND_TRIPS = sized(100_000, 10_000);
const REQUEST = 'ping';

async function echoLines(reader: Reader, writer: Writer): Promise<void> {
  for (;;) {
    const line = await firstValueFrom(reader.readLine());
    if (line === EOF) return;
    writer.writeLine(line);
  }
}

async function viaRx(count: number): Promise<number> {
  const server = await startRxServer((_address, reader, writer) => echoLines(reader, writer));
  const connection = await connectRx(server);
  const { reader, writer } = connection;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    writer.writeLine(REQUEST);
    const answer = await firstValueFrom(reader.readLine());
    if (answer !== REQUEST) throw new Error(`rx-tcp: round trip ${i} answered ${String(answer)}`);
  }
  const seconds = secondsSince(start);
  await closed(connection.close());
  await closeRxServer(server);
  return count / seconds;
}

/** Calls `onLine` with every `\n`-terminated line of `socket`, as a raw program would. */
function onLines(socket: net.Socket, onLine: (line: string) => void): void {
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    let from = 0;
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', from)) {
      const line = partial + text.slice(from, at);
      partial = '';
      from = at + 1;
      onLine(line);
    }
    partial += text.slice(from);
  });
}

async function viaRaw(count: number): Promise<number> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    onLines(socket, (line) => socket.write(`${line}\n`));
  });
  const socket = await connectRaw(await listenRaw(server));
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    let done = 0;
    socket.on('error', reject);
    onLines(socket, (line) => {
      if (line !== REQUEST) reject(new Error(`raw: round trip ${done} answered ${line}`));
      if (++done === count) resolve();
      else socket.write(`${REQUEST}\n`);
    });
    socket.write(`${REQUEST}\n`);
  });
  const seconds = secondsSince(start);
  socket.destroy();
  await closeRaw(server);
  return count / seconds;
}

export const main = sidesFigure(module, {
  heading: `ping-pong: ${ROUND_TRIPS} round trips of a short line on one connection, round trips/s`,
  figure: 'ping-pong',
  unit: 'round trips/s',
  size: ROUND_TRIPS,
  warmUpSize: ROUND_TRIPS / 5,
  target: { ratio: 0.9, higherIsBetter: true },
  note: `${ROUND_TRIPS} round trips; readLine + writeLine on both sides vs hand-split 'data' + socket.write`,
  sides: { rx: viaRx, raw: viaRaw },
});
