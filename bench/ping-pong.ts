/**
 * Ping-pong: 100 k request/response round trips of a short line on one connection, client and
 * server in this process, one request outstanding at a time.
 *
 * Both sides are written the same way on each side of the comparison: driven by the lines they
 * receive, each answer written from the callback that got the line.
 * - rx-tcp: `reader.lines()` subscribed on both sides, answering with `writer.writeLine` (the
 *   server inside `Server.create`).
 * - raw: both sides split 'data' on `\n` by hand (keeping a partial line) and `socket.write` the
 *   answer; no-delay on, as rx-tcp sets it.
 *
 * The figure is round trips per second. `bench/ping-pong-awaited.ts` measures the other way to
 * write the client, a loop awaiting each answer.
 *
 * Run alone with `npm run bench -- ping-pong`; `BENCH_QUICK=1` for 10 k.
 */
import * as net from 'node:net';
import type { Reader, Writer } from '../src';
import { SECONDS_LONG_ROUNDS, secondsSince, sidesFigure, sized } from './common';
import { closed, closeRaw, closeRxServer, connectRaw, connectRx, listenRaw, startRxServer } from './servers';

const ROUND_TRIPS = sized(100_000, 10_000);
export const REQUEST = 'ping';

/** The rx-tcp server of both ping-pong figures: answers each line with itself, until the client's FIN. */
export function echoLines(_address: unknown, reader: Reader, writer: Writer): Promise<void> {
  return new Promise<void>((done, fail) => {
    reader.lines().subscribe({ next: (line) => writer.writeLine(line), error: fail, complete: done });
  });
}

async function viaRx(count: number): Promise<number> {
  const server = await startRxServer(echoLines);
  const connection = await connectRx(server);
  const { reader, writer } = connection;
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    let done = 0;
    const answers = reader.lines().subscribe({
      next: (line) => {
        if (line !== REQUEST) reject(new Error(`rx-tcp: round trip ${done} answered ${line}`));
        if (++done === count) {
          answers.unsubscribe();
          resolve();
        } else writer.writeLine(REQUEST);
      },
      error: reject,
    });
    writer.writeLine(REQUEST);
  });
  const seconds = secondsSince(start);
  await closed(connection.close());
  await closeRxServer(server);
  return count / seconds;
}

/** Calls `onLine` with every `\n`-terminated line of `socket`, as a raw program would. */
export function onLines(socket: net.Socket, onLine: (line: string) => void): void {
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

/** The raw server of both ping-pong figures: answers each line with itself. */
export function rawEchoLines(): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    onLines(socket, (line) => socket.write(`${line}\n`));
  });
}

async function viaRaw(count: number): Promise<number> {
  const server = rawEchoLines();
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
  rounds: SECONDS_LONG_ROUNDS,
  warmUpSize: ROUND_TRIPS / 5,
  target: { ratio: 0.9, higherIsBetter: true },
  note: `${ROUND_TRIPS} round trips; lines() + writeLine on both sides vs hand-split 'data' + socket.write`,
  sides: { rx: viaRx, raw: viaRaw },
});
