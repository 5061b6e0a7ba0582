/**
 * Small writes: 2 M writes of 16 bytes, then close, counted at the peer (in this process).
 *
 * - rx-tcp: `writer.write(message)` for each message (the writer copies it into its buffer and
 *   hands the OS one large chunk per tick or per 64 KiB), waiting for `writer.flushed()` when more
 *   than 1 MiB is queued, then `writer.close()`; the peer is a `Server.create` handler counting its
 *   reader's chunks.
 * - raw, naive: one `socket.write(message)` per message, waiting for 'drain' when it returns false,
 *   then `socket.end()`; the peer is a raw server counting 'data'.
 *
 * The figure is messages per second, from the first write to the peer seeing every byte and FIN.
 *
 * Run alone with `npm run bench -- small-writes`; `BENCH_QUICK=1` for 200 k.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { firstValueFrom } from 'rxjs';
import { MiB, secondsSince, sidesFigure, sized } from './common';
import { closed, closeRaw, closeRxServer, connectRaw, connectRx, listenRaw, startRxServer } from './servers';

const MESSAGES = sized(2_000_000, 200_000);
const MESSAGE = Buffer.from('0123456789abcde\n');
/** The rx-tcp client waits for a flush once this much is queued, so that memory stays bounded. */
const QUEUED_LIMIT = 1 * MiB;

/** A promise and its resolve/reject, for a count the peer reaches. */
function counted(expected: number) {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<void>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  let bytes = 0;
  return {
    done,
    add: (n: number) => {
      bytes += n;
    },
    end: () => (bytes === expected ? resolve() : reject(new Error(`peer got ${bytes} of ${expected} bytes`))),
    fail: (error: unknown) => reject(error),
  };
}

async function viaRx(count: number): Promise<number> {
  const peer = counted(count * MESSAGE.length);
  const server = await startRxServer(
    (_address, reader) =>
      new Promise<void>((resolve) =>
        reader.subscribe({
          next: (chunk) => peer.add(chunk.length),
          error: (error) => {
            peer.fail(error);
            resolve();
          },
          complete: () => {
            peer.end();
            resolve();
          },
        }),
      ),
  );
  const connection = await connectRx(server);
  const { writer } = connection;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    writer.write(MESSAGE);
    if (writer.bytesToWrite >= QUEUED_LIMIT) await firstValueFrom(writer.flushed());
  }
  const closing = closed(connection.close());
  await peer.done;
  const seconds = secondsSince(start);
  await closing;
  await closeRxServer(server);
  return count / seconds;
}

async function viaRaw(count: number): Promise<number> {
  const peer = counted(count * MESSAGE.length);
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => peer.add(chunk.length));
    socket.on('end', () => peer.end());
    socket.on('error', (error) => peer.fail(error));
  });
  const socket = await connectRaw(await listenRaw(server));
  socket.on('error', (error) => peer.fail(error));
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    if (!socket.write(MESSAGE)) await once(socket, 'drain');
  }
  socket.end();
  await peer.done;
  const seconds = secondsSince(start);
  socket.destroy();
  await closeRaw(server);
  return count / seconds;
}

export const main = sidesFigure(module, {
  heading: `small writes: ${MESSAGES} writes of 16 bytes then close, messages/s at the peer`,
  figure: 'small writes',
  unit: 'messages/s',
  size: MESSAGES,
  warmUpSize: MESSAGES / 10,
  target: { ratio: 8, higherIsBetter: true },
  note: `${MESSAGES} x 16-byte writer.write vs one socket.write per message (waiting for 'drain')`,
  sides: { rx: viaRx, raw: viaRaw },
});
