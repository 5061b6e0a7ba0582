import * as net from 'node:net';
import {
  BufferAgeLimitError,
  EOF,
  type InetAddress,
  Server,
  type ServerEvent,
  toHostAndPort,
  withConnection,
} from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, type Observable, TimeoutError, timeout } from 'rxjs';
import { once, waitFor } from '../helpers/net';
import { loopback } from '../helpers/servers';

async function answers(port: number): Promise<string | typeof EOF> {
  return lastValueFrom(
    withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) => {
      writer.writeLine('ping');
      return reader.readLine();
    }),
  );
}

describe('slow clients', () => {
  let server: Server<InetAddress, number>;
  afterEach(() => lastValueFrom(server.close({ closeExistingConnections: true })));

  it('a peer that never reads trips the buffer-age limit: its connection is closed, the server lives', async () => {
    const events: ServerEvent<InetAddress>[] = [];
    let first = true;
    server = await firstValueFrom(
      Server.create(
        loopback(),
        (_address, reader, writer): Observable<unknown> =>
          defer(async () => {
            if (first) {
              first = false;
              const chunk = Buffer.alloc(64 * 1024, 'x');
              for (let i = 0; i < 512; i++) writer.write(chunk); // 32 MiB the peer will never take
              return; // done: the server now closes the connection, which cannot flush
            }
            if ((await firstValueFrom(reader.readLine())) !== EOF) writer.writeLine('pong');
          }),
        { bufferAgeLimit: 200 },
      ),
    );
    server.events.subscribe((e) => events.push(e));
    const sluggard = net.connect({ host: '127.0.0.1', port: server.listeningOn });
    sluggard.on('error', () => {});
    sluggard.pause(); // never reads
    await waitFor(() => events.some((e) => e.type === 'connectionClosed'), 10_000, 'the connection to close');
    const closed = events.find((e) => e.type === 'connectionClosed');
    expect(closed?.error).toBeInstanceOf(BufferAgeLimitError);
    // The server cut it off: reading again, the peer gets what its kernel held, then the end.
    let received = 0;
    sluggard.on('data', (d: Buffer) => (received += d.length));
    sluggard.resume();
    await once(sluggard, 'close');
    expect(received).toBeLessThan(32 * 1024 * 1024);
    expect(events.some((e) => e.type === 'handlerError')).toBe(false);
    expect(await answers(server.listeningOn)).toBe('pong');
  });

  it('a peer that goes silent is closed by idleTimeout', async () => {
    server = await firstValueFrom(
      Server.create(loopback(), (_address, reader) => reader.lines(), { idleTimeout: 150 }),
    );
    const silent = net.connect({ host: '127.0.0.1', port: server.listeningOn });
    await once(silent, 'connect');
    const started = Date.now();
    silent.write('GET / HTTP/1.1\r\n'); // and nothing more
    await once(silent, 'close');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await waitFor(() => server.numConnections === 0);
  });

  it('a slowloris trickling faster than idleTimeout is cut by a deadline in the handler', async () => {
    const errors: unknown[] = [];
    server = await firstValueFrom(
      Server.create(
        loopback(),
        (_address, reader, writer) =>
          // The whole request line must arrive within 300 ms, however it trickles.
          reader
            .readLine()
            .pipe(timeout({ first: 300 }), (line) =>
              defer(async () => writer.writeLine(`got ${String(await firstValueFrom(line))}`)),
            ),
        { idleTimeout: 1000, onHandlerError: { call: (_address, error) => errors.push(error) } },
      ),
    );
    const loris = net.connect({ host: '127.0.0.1', port: server.listeningOn });
    loris.on('error', () => {});
    await once(loris, 'connect');
    let sent = 0;
    // One byte every 20 ms, never a newline: never idle, never a whole line. Bounded to 200 bytes.
    const trickle = setInterval(() => {
      if (sent++ < 200 && !loris.destroyed) loris.write('a');
    }, 20);
    try {
      await once(loris, 'close');
      expect(errors[0]).toBeInstanceOf(TimeoutError);
      expect(sent).toBeLessThan(200);
    } finally {
      clearInterval(trickle);
    }
  });
});
