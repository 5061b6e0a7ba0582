import type { Handler, InetAddress, Reader, Writer } from 'rx-tcp';
import { serveMarble } from 'rx-tcp/testing';
import { map, take, tap } from 'rxjs';
import { outcome, testScheduler } from '../helpers/marbles';

/** Greets, answers one line, and hangs up: the server closes the connection when it completes. */
const greeter = (_address: unknown, reader: Reader, writer: Writer) => {
  writer.writeLine('HELLO');
  return reader.lines().pipe(
    take(1),
    tap((line) => writer.writeLine(`you said ${line}`)),
  );
};

describe('serveMarble', () => {
  it('runs a server handler against the marbles and closes as the server does when it completes', () => {
    testScheduler().run((helpers) => {
      const { writes, served, connection, input } = serveMarble(helpers, greeter, '--a----b', {
        a: 'hi\n',
        b: 'too late\n',
      });
      helpers.expectObservable(writes).toBe('a-(b|)', { a: 'HELLO\n', b: 'you said hi\n' });
      helpers.expectObservable(served).toBe('--(x|)', { x: undefined });
      helpers.expectObservable(connection.closed).toBe('--(x|)', { x: undefined });
      // The connection is closed by then: the peer's next line is answered with a reset.
      helpers.expectSubscriptions(input.subscriptions).toBe('^------!');
    });
  });

  it("calls the handler at once with the peer's address, the reader, the writer and the connection", () => {
    testScheduler().run((helpers) => {
      const handler = jest.fn<ReturnType<Handler<InetAddress>>, Parameters<Handler<InetAddress>>>(() => []);
      const { connection } = serveMarble(helpers, handler, '-');
      expect(handler).toHaveBeenCalledWith(
        connection.remoteAddress,
        connection.reader,
        connection.writer,
        connection,
      );
      expect(connection.proxy).toBeNull();
      expect(connection.remoteAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: 49153 });
    });
  });

  it("errors served with the handler's error, after closing the writer cleanly", () => {
    testScheduler().run((helpers) => {
      const strict: Handler<InetAddress> = (_address, reader, writer) =>
        reader.lines().pipe(
          map((line) => {
            if (line !== 'PING') throw new Error(`unexpected ${line}`);
            writer.writeLine('PONG');
          }),
        );
      const { writes, served } = serveMarble(helpers, strict, '-p-x', { p: 'PING\n', x: 'HUH\n' });
      helpers.expectObservable(writes).toBe('-a-|', { a: 'PONG\n' });
      helpers.expectObservable(outcome(served)).toBe('---(e|)', { e: 'unexpected HUH' });
    });
  });

  it('lets a handler see the reset of #, as it would on a socket: a connection failure, not an error of served', () => {
    testScheduler().run((helpers) => {
      const seen: unknown[] = [];
      const { served, writes } = serveMarble(
        helpers,
        (_address, reader) => reader.pipe(tap({ error: (e) => seen.push(e.code) })),
        '-a-#',
      );
      helpers.expectObservable(outcome(served)).toBe('---(d|)', { d: 'done' });
      helpers.flush();
      expect(seen).toEqual(['ECONNRESET']);
      helpers.expectObservable(writes).toBe('---|');
    });
  });

  it('completes served when the peer sends FIN and the handler ends with the stream', () => {
    testScheduler().run((helpers) => {
      const echo: Handler<InetAddress> = (_address, reader, writer) => reader.transfer(writer);
      const { served, writes } = serveMarble(helpers, echo, '-a-b|');
      helpers.expectObservable(writes).toBe('-a-b|');
      helpers.expectObservable(outcome(served)).toBe('----(d|)', { d: 'done' });
    });
  });

  it('throws at the call when the handler is not a function', () => {
    testScheduler().run((helpers) => {
      expect(() => serveMarble(helpers, null as never, '-')).toThrow(
        new TypeError('serveMarble: handler must be a function, got null'),
      );
    });
  });
});
