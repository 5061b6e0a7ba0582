import * as crypto from 'node:crypto';
import { Server, toHostAndPort, withConnection } from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, merge, mergeMap, range, toArray } from 'rxjs';
import { loopback } from '../helpers/servers';

const CONNECTIONS = 100;
const TOTAL = 1024 * 1024 * 1024;
const PER_CONNECTION = Math.ceil(TOTAL / CONNECTIONS); // 1 GiB in all, rounded up

/** A small seeded generator (mulberry32), so that a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('integrity', () => {
  it(`echoes 1 GiB through ${CONNECTIONS} concurrent connections with random chunk sizes: nothing lost, duplicated or reordered`, async () => {
    // One random pattern; connection i sends it from offset i * 4099, wrapping, so that every
    // connection's stream differs and a byte delivered to the wrong connection is caught too.
    const pattern = crypto.randomBytes(4 * 1024 * 1024);
    const expectedAt = (i: number, position: number) => (i * 4099 + position) % pattern.length;
    const server = await firstValueFrom(
      Server.create(loopback(), (_address, reader, writer) => reader.transfer(writer), {
        maxConnections: CONNECTIONS,
      }),
    );
    const seed = Date.now();
    const started = Date.now();
    const results = await lastValueFrom(
      range(0, CONNECTIONS).pipe(
        mergeMap((i) =>
          withConnection(toHostAndPort('127.0.0.1', server.listeningOn), ({ reader, writer }) => {
            const next = random(seed + i);
            let received = 0;
            let mismatches = 0;
            const check = reader.pipe(
              mergeMap(async (chunk) => {
                for (let offset = 0; offset < chunk.length; ) {
                  const from = expectedAt(i, received + offset);
                  const n = Math.min(chunk.length - offset, pattern.length - from);
                  if (chunk.compare(pattern, from, from + n, offset, offset + n) !== 0) mismatches++;
                  offset += n;
                }
                received += chunk.length;
              }),
            );
            const send = defer(async () => {
              let sent = 0;
              while (sent < PER_CONNECTION) {
                // Mostly small chunks, some large: 1 byte to 64 KiB.
                const size = Math.min(PER_CONNECTION - sent, 1 + Math.floor(next() ** 3 * 65536));
                const from = expectedAt(i, sent);
                const n = Math.min(size, pattern.length - from);
                writer.write(pattern.subarray(from, from + n));
                sent += n;
                if (writer.bytesToWrite > 1024 * 1024) await lastValueFrom(writer.flushed());
              }
              await lastValueFrom(writer.close()); // FIN: the echo ends, and so does our reader
            });
            return merge(
              send,
              check,
              defer(async () => undefined),
            ).pipe(
              toArray(),
              mergeMap(async () => ({ i, received, mismatches })),
            );
          }),
        ),
        toArray(),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `integrity: ${((PER_CONNECTION * CONNECTIONS) / 2 ** 20).toFixed(0)} MiB echoed over ${CONNECTIONS} connections in ${seconds.toFixed(1)} s (seed ${seed})`,
    );
    expect(results).toHaveLength(CONNECTIONS);
    for (const r of results) expect(r).toEqual({ i: r.i, received: PER_CONNECTION, mismatches: 0 });
    await lastValueFrom(server.close());
  }, 120_000);
});
