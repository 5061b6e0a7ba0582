/**
 * Ping-pong with awaited reads: the round trips of `bench/ping-pong.ts`, with the client written
 * as a loop that sends a request and awaits its answer, as a sequential client usually is. The
 * servers are those of `bench/ping-pong.ts`. Shown for reference: it adds, on both sides of the
 * comparison, a promise per round trip, and for rx-tcp a `firstValueFrom` subscription.
 *
 * - rx-tcp: `writer.writeLine(request)` then `await firstValueFrom(reader.readLine())`.
 * - raw: `socket.write(request)` then await a promise resolved by the next line of 'data'.
 *
 * Run alone with `npm run bench -- ping-pong-awaited`; `BENCH_QUICK=1` for 10 k.
 */
import { firstValueFrom } from 'rxjs';
import { secondsSince, sidesFigure, sized } from './common';
import { echoLines, onLines, REQUEST, rawEchoLines } from './ping-pong';
import { closed, closeRaw, closeRxServer, connectRaw, connectRx, listenRaw, startRxServer } from './servers';

const ROUND_TRIPS = sized(100_000, 10_000);

async function viaRx(count: number): Promise<number> {
  const server = await startRxServer(echoLines);
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

async function viaRaw(count: number): Promise<number> {
  const server = rawEchoLines();
  const socket = await connectRaw(await listenRaw(server));
  let answered: ((line: string) => void) | undefined;
  onLines(socket, (line) => answered!(line));
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    socket.write(`${REQUEST}\n`);
    const answer = await new Promise<string>((resolve) => (answered = resolve));
    if (answer !== REQUEST) throw new Error(`raw: round trip ${i} answered ${answer}`);
  }
  const seconds = secondsSince(start);
  socket.destroy();
  await closeRaw(server);
  return count / seconds;
}

export const main = sidesFigure(module, {
  heading: `ping-pong, awaited reads: ${ROUND_TRIPS} round trips, the client awaiting each answer, round trips/s`,
  figure: 'ping-pong, awaited reads',
  unit: 'round trips/s',
  size: ROUND_TRIPS,
  warmUpSize: ROUND_TRIPS / 5,
  target: { reference: true },
  note: `${ROUND_TRIPS} round trips; writeLine + await firstValueFrom(readLine()) vs socket.write + await the next line`,
  sides: { rx: viaRx, raw: viaRaw },
});
