import type { Connection, InetAddress, Reader, Writer } from 'rx-tcp';
import { connectionPair, serveConnection } from 'rx-tcp/testing';
import { lastValueFrom, map, NEVER, take, tap, toArray } from 'rxjs';
import { outcome, testScheduler } from '../helpers/marbles';

describe('serveConnection', () => {
  it('is cold: the handler is called on subscribe, with the peer address, the reader, the writer and the connection', () => {
    const [client, server] = connectionPair();
    const handler = jest.fn(
      (_address: InetAddress, _reader: Reader, _writer: Writer, _connection: Connection<InetAddress>) =>
        NEVER,
    );
    const served = serveConnection(server, handler);
    expect(handler).not.toHaveBeenCalled();
    const subscription = served.subscribe();
    expect(handler).toHaveBeenCalledWith(client.localAddress, server.reader, server.writer, server);
    // No load balancer in front: no PROXY header, the peer is the client.
    expect(server.proxy).toBeNull();
    subscription.unsubscribe();
  });

  it('closes the writer, then the reader, when the handler completes; then emits and completes', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [client, server] = connectionPair();
      const log: string[] = [];
      server.writer.closeFinished.subscribe(() => log.push('writer closed'));
      server.closed.subscribe(() => log.push(`closed, reader closed: ${server.reader.isClosed}`));
      const served = serveConnection(server, (_address, reader, writer) =>
        reader.lines().pipe(
          take(1),
          tap((line) => writer.writeLine(`echo ${line}`)),
        ),
      ).pipe(tap(() => log.push('served')));
      cold('--a').subscribe(() => client.writer.writeLine('hi'));
      expectObservable(outcome(served)).toBe('--(d|)', { d: 'done' });
      expectObservable(client.reader.lines()).toBe('--(a|)', { a: 'echo hi' }); // then the server's FIN
      expectObservable(cold('---c').pipe(map(() => [...log]))).toBe('---c', {
        c: ['writer closed', 'closed, reader closed: true', 'served'],
      });
    });
  });

  it("errors with the handler's error after closing the connection", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [client, server] = connectionPair();
      const served = serveConnection(server, (_address, reader, writer) =>
        reader.lines().pipe(
          map((line) => {
            if (line === 'boom') throw new Error('handler failed');
            writer.writeLine(line);
          }),
        ),
      );
      cold('-a-b', { a: 'fine\n', b: 'boom\n' }).subscribe((text) => client.writer.write(text));
      expectObservable(outcome(served)).toBe('---(e|)', { e: 'handler failed' });
      expectObservable(outcome(server.closed)).toBe('---(d|)', { d: 'done' });
      expectObservable(client.reader.lines()).toBe('-a-|', { a: 'fine' });
    });
  });

  it('treats a handler that throws as failed, and still closes the connection', () => {
    testScheduler().run(({ expectObservable }) => {
      const [client, server] = connectionPair();
      const served = serveConnection(server, () => {
        throw new Error('thrown at once');
      });
      expectObservable(outcome(served)).toBe('(e|)', { e: 'thrown at once' });
      expectObservable(client.reader).toBe('|');
    });
  });

  it('destroys the connection at once when the peer resets, while the handler still runs', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [client, server] = connectionPair();
      const served = serveConnection(server, () => NEVER);
      cold('--r').subscribe(() => client.destroy());
      expectObservable(outcome(server.closed)).toBe('--(d|)', { d: 'done' });
      expectObservable(outcome(served)).toBe('----'); // the handler has not ended
    });
  });

  it('a handler passing the reset on is not a failure of the result, as it is not for a server', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [client, server] = connectionPair();
      const served = serveConnection(server, (_address, reader) => reader);
      cold('--r').subscribe(() => client.destroy());
      expectObservable(outcome(served)).toBe('--(d|)', { d: 'done' });
    });
  });

  it('unsubscribing unsubscribes the handler and closes the connection', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const [client, server] = connectionPair();
      const handler = cold('-----');
      const served = serveConnection(server, () => handler);
      expectObservable(served, '^--!').toBe('---');
      expectSubscriptions(handler.subscriptions).toBe('^--!');
      expectObservable(client.reader).toBe('---|'); // the server's FIN
      expectObservable(outcome(server.closed)).toBe('---(d|)', { d: 'done' });
    });
  });

  it('serves a real-time exchange', async () => {
    const [client, server] = connectionPair();
    serveConnection(server, (_address, reader, writer) => reader.transfer(writer)).subscribe();
    client.writer.writeLine('one');
    client.writer.writeLine('two');
    client.writer.close();
    expect(await lastValueFrom(client.reader.lines().pipe(toArray()))).toEqual(['one', 'two']);
    await lastValueFrom(server.closed);
  });

  it('throws at the call when the handler is not a function', () => {
    const [, server] = connectionPair();
    expect(() => serveConnection(server, 'echo' as never)).toThrow(
      new TypeError('serveConnection: handler must be a function, got "echo"'),
    );
  });
});
