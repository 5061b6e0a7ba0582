import * as net from 'node:net';
import fc from 'fast-check';
import {
  connect,
  FrameTooLongError,
  listen,
  onFile,
  onPort,
  Server,
  toFile,
  toHostAndPort,
  withConnection,
} from 'rx-tcp';
import { lengthPrefixed, lines } from 'rx-tcp/operators';
import { firstValueFrom, lastValueFrom, NEVER, type Observable } from 'rxjs';
import { once, waitFor } from '../helpers/net';
import { loopback } from '../helpers/servers';

const validPort = (p: unknown) => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;

describe('bad input', () => {
  it('any value that is not a port is refused at the call, by name', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null), fc.boolean()),
        (port) => {
          fc.pre(!validPort(port));
          for (const call of [
            () => toHostAndPort('localhost', port as number),
            () => onPort(port as number),
          ]) {
            let error: unknown;
            try {
              call();
            } catch (e) {
              error = e;
            }
            expect(error instanceof TypeError || error instanceof RangeError).toBe(true);
            expect((error as Error).message).toMatch(/port must be/);
            expect((error as Error).message).toContain(
              typeof port === 'string' ? JSON.stringify(port) : String(port),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('any path too long for a Unix socket is a RangeError naming its length', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 300, unit: 'grapheme' }), (path) => {
        const bytes = Buffer.byteLength(path);
        for (const call of [() => toFile(path), () => onFile(path)]) {
          if (bytes <= 107) expect(call).not.toThrow();
          else expect(call).toThrow(new RegExp(`path is ${bytes} bytes`));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('bad option values are refused at the call, quoting the value', () => {
    const where = toHostAndPort('127.0.0.1', 1);
    const cases: [() => unknown, RegExp][] = [
      [() => connect(where, { timeout: Number.NaN }), /timeout must be a number, got NaN/],
      [() => connect(where, { readerBufferSize: -5 }), /readerBufferSize must be an integer >= 1, got -5/],
      [() => connect(where, { bufferAgeLimit: -1 }), /bufferAgeLimit must be a number >= 0, got -1/],
      [() => withConnection(where, null as never), /f must be a function, got object/],
      [() => listen(loopback(), { backlog: 2.5 }), /backlog must be an integer >= 0, got 2.5/],
      [
        () => Server.create(loopback(), () => NEVER, { maxConnections: Number.POSITIVE_INFINITY }),
        /got Infinity/,
      ],
      [() => lines({ maxLineLength: 0 }), /maxLineLength/],
      [() => lengthPrefixed({ headerBytes: 3 as never }), /headerBytes/],
    ];
    for (const [call, message] of cases) expect(call).toThrow(message);
  });

  describe('hostile peers against a framing server', () => {
    /** Handler errors: there must be none, input refused by the framing is the peer's failure. */
    let errors: unknown[];
    /** The connection failures reported with `connectionClosed`. */
    let failures: unknown[];
    let server: Awaited<ReturnType<typeof start>>;
    const start = async (decode: 'lines' | 'lengthPrefixed') => {
      const started = await firstValueFrom(
        Server.create(
          loopback(),
          (_address, reader): Observable<unknown> =>
            decode === 'lines'
              ? reader.pipe(lines({ maxLineLength: 1024 }))
              : reader.pipe(lengthPrefixed({ headerBytes: 4 })),
          { onHandlerError: { call: (_address, error) => errors.push(error) } },
        ),
      );
      started.events.subscribe((e) => {
        if (e.type === 'connectionClosed' && e.error !== undefined) failures.push(e.error);
      });
      return started;
    };
    beforeEach(() => {
      errors = [];
      failures = [];
    });
    afterEach(() => lastValueFrom(server.close({ closeExistingConnections: true })));

    it('an endless line with no newline is a FrameTooLongError, with bounded memory', async () => {
      server = await start('lines');
      const peer = net.connect({ host: '127.0.0.1', port: server.listeningOn });
      peer.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let sent = 0;
      const closed = once(peer, 'close');
      // Up to 64 MiB, with backpressure, until the server hangs up.
      const pump = () => {
        while (!peer.destroyed && sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!peer.write(chunk)) return void peer.once('drain', pump);
        }
      };
      pump();
      await waitFor(() => failures.length === 1, 20_000, 'the connection to fail');
      expect(failures[0]).toBeInstanceOf(FrameTooLongError);
      expect((failures[0] as FrameTooLongError).limit).toBe(1024);
      expect(errors).toEqual([]);
      await closed; // the server hung up on it
      // What was sent before that is the kernel's buffers' worth, not the 64 MiB offered.
      expect(sent).toBeLessThan(32 * 1024 * 1024);
    });

    it('a length prefix of 4 GiB is refused from its header alone', async () => {
      server = await start('lengthPrefixed');
      const peer = net.connect({ host: '127.0.0.1', port: server.listeningOn });
      peer.on('error', () => {});
      peer.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      await waitFor(() => failures.length === 1, 10_000, 'the connection to fail');
      expect(failures[0]).toBeInstanceOf(FrameTooLongError);
      expect((failures[0] as FrameTooLongError).bytesSeen).toBe(0xffffffff);
      expect(errors).toEqual([]);
      peer.destroy();
    });
  });
});
