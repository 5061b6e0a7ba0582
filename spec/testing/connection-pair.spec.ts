import * as net from 'node:net';
import { type UnixAddress, WriterClosedError } from 'rx-tcp';
import { connectionPair, DEFAULT_WINDOW_SIZE } from 'rx-tcp/testing';
import { catchError, lastValueFrom, map, type Observable, of, toArray } from 'rxjs';
import { testScheduler } from '../helpers/marbles';

/** Received chunks as strings; an error as its code (or name). */
function text(source: Observable<Buffer>): Observable<string> {
  return source.pipe(
    map((chunk) => chunk.toString()),
    catchError((error) => of(`error ${error.code ?? error.name}`)),
  );
}

/** An error as its name, so that marbles can show which one. */
function outcome(source: Observable<void>): Observable<string> {
  return source.pipe(
    map(() => 'done'),
    catchError((error) => of(error.name as string)),
  );
}

describe('connectionPair', () => {
  it('delivers what one side writes to the other at the same virtual time; complete() is a FIN', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [a, b] = connectionPair();
      cold('-a--b|', { a: 'hello ', b: 'world' }).subscribe(a.writer);
      expectObservable(text(b.reader)).toBe('-a--b|', { a: 'hello ', b: 'world' });
    });
  });

  it('half-close: after the peer FIN the reader has completed and the writer still writes', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [a, b] = connectionPair();
      cold('|').subscribe(a.writer);
      cold('---a|').subscribe(b.writer);
      expectObservable(text(b.reader)).toBe('|');
      expectObservable(text(a.reader)).toBe('---a|');
      expectObservable(outcome(a.closed)).toBe('----(d|)', { d: 'done' }); // both FINs: closed by itself
    });
  });

  it('keeps what arrives before anyone reads', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [a, b] = connectionPair();
      cold('-a-b|').subscribe(a.writer);
      // Small chunks that waited in a row come out gathered: TCP keeps no message boundaries.
      expectObservable(text(b.reader), '----------^').toBe('----------(c|)', { c: 'ab' });
    });
  });

  it('flow control: a reader that does not read fills the window, then writes wait in the writer', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [a, b] = connectionPair({ windowSize: 10, readerBufferSize: 4, bufferAgeLimit: 'unlimited' });
      a.writer.write('x'.repeat(30));
      const flushed = a.writer.flushed();
      // 10 bytes delivered (the reader pauses at 4), 10 in flight, 10 still in the writer: the
      // write counts whole until it has all reached the window (its callback), as flushed() does.
      const state = cold('--s').pipe(map(() => [b.reader.bytesBuffered, a.writer.bytesToWrite]));
      expectObservable(state).toBe('--s', { s: [10, 30] });
      expectObservable(outcome(flushed)).toBe('-----(d|)', { d: 'done' }); // once b reads, at 5
      expectObservable(b.reader.pipe(map((c) => c.length)), '-----^').toBe('-----(aaa)', { a: 10 });
    });
  });

  it('runs the buffer-age limit in virtual time; the peer then reads what came, and the reset', () => {
    testScheduler().run(({ expectObservable }) => {
      const [a, b] = connectionPair({ windowSize: 10, readerBufferSize: 4, bufferAgeLimit: 100 });
      a.writer.write('x'.repeat(30));
      expectObservable(outcome(a.writer.closeFinished)).toBe('100ms (e|)', { e: 'BufferAgeLimitError' });
      expectObservable(outcome(a.closed)).toBe('100ms (d|)', { d: 'done' });
      expectObservable(text(b.reader), '200ms ^').toBe('200ms (abe|)', {
        a: 'x'.repeat(10), // what b's reader held
        b: 'x'.repeat(10), // what was in flight
        e: 'error ECONNRESET',
      });
    });
  });

  it('bounds a close by a timer only while bytes wait for the peer, as over a socket', () => {
    const scheduler = testScheduler();
    const schedule = jest.spyOn(scheduler, 'schedule');
    const forceCloseTimers = () => schedule.mock.calls.filter((call) => call[1] === 345).length;
    const [a] = connectionPair({ scheduler });
    a.writer.write('sent');
    scheduler.flush();
    a.writer.close({ forceCloseAfter: 345 });
    expect(forceCloseTimers()).toBe(0); // nothing queued: the FIN cannot wait for the peer
    // d does not read: once its reader holds 4 bytes and 4 are in flight, the rest waits.
    const [c] = connectionPair({ scheduler, windowSize: 4, readerBufferSize: 4 });
    c.writer.write('more than the window holds');
    scheduler.flush();
    const closed = c.writer.close({ forceCloseAfter: 345 });
    expect(forceCloseTimers()).toBe(1);
    let ending = '';
    closed.subscribe({ complete: () => (ending = 'closed'), error: (error) => (ending = error.name) });
    scheduler.flush();
    expect(ending).toBe('ConnectionAbortedError');
  });

  it('close(): FIN after the bytes written before it; the peer reads them, then EOF', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [a, b] = connectionPair();
      a.writer.writeLine('last words');
      expectObservable(outcome(a.close())).toBe('(d|)', { d: 'done' });
      expectObservable(b.reader.lines()).toBe('(l|)', { l: 'last words' });
      cold('--c').subscribe(() => b.close());
      expectObservable(outcome(b.closed)).toBe('--(d|)', { d: 'done' });
    });
  });

  it('destroy() resets: the peer gets ECONNRESET after the bytes before it, and consumerLeft', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [a, b] = connectionPair();
      a.writer.write('before');
      cold('---d').subscribe(() => a.destroy());
      expectObservable(text(b.reader)).toBe('a--(e|)', { a: 'before', e: 'error ECONNRESET' });
      expectObservable(outcome(b.writer.consumerLeft)).toBe('---(d|)', { d: 'done' });
      expectObservable(outcome(b.closed)).toBe('---(d|)', { d: 'done' });
    });
  });

  it('a closed side answers later data with a reset; only bytes lost fail the writer', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [a, b] = connectionPair();
      a.close().subscribe();
      b.reader.subscribe();
      cold('-----w').subscribe(() => b.writer.write('anyone there?')); // reaches the window: not lost
      cold('-------w').subscribe(() => b.writer.write('lost'));
      cold('--------c').subscribe(() => b.writer.close().subscribe({ error: () => {} }));
      expectObservable(outcome(b.writer.consumerLeft)).toBe('-----(d|)', { d: 'done' });
      expectObservable(outcome(b.closed)).toBe('-----(d|)', { d: 'done' });
      // The writer fails as it loses bytes, not later at its close.
      expectObservable(outcome(b.writer.closeFinished)).toBe('-------(e|)', { e: 'ConsumerLeftError' });
    });
  });

  it('is driven by the scheduler it is given: nothing arrives before it runs', () => {
    const scheduler = testScheduler();
    const [a, b] = connectionPair({ scheduler });
    const received: string[] = [];
    b.reader.subscribe((chunk) => received.push(chunk.toString()));
    a.writer.write('queued');
    a.writer.close();
    expect(received).toEqual([]);
    scheduler.flush();
    expect(received).toEqual(['queued']);
    expect(b.reader.isClosed).toBe(false);
  });

  it('works in real time too: an echo with flow control', async () => {
    const [client, server] = connectionPair({ readerBufferSize: 1024 });
    server.reader.transfer(server.writer).subscribe({ complete: () => server.writer.close() });
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}`);
    for (const line of lines) client.writer.writeLine(line);
    client.writer.close();
    expect(await lastValueFrom(client.reader.lines().pipe(toArray()))).toEqual(lines);
    await lastValueFrom(client.closed);
    await lastValueFrom(server.closed);
  });

  it('copies a large write once it reached the window, so the caller may reuse it after flushed()', async () => {
    const [a, b] = connectionPair();
    const large = Buffer.alloc(32 * 1024, 'a'); // large enough to pass through the writer uncopied
    a.writer.write(large);
    await lastValueFrom(a.writer.flushed());
    large.fill('b');
    a.writer.close();
    expect((await lastValueFrom(b.reader.contents())).equals(Buffer.alloc(32 * 1024, 'a'))).toBe(true);
  });

  it('writing after close throws, as on a socket', () => {
    const [a] = connectionPair();
    a.writer.close();
    expect(() => a.writer.write('late')).toThrow(WriterClosedError);
  });

  it('gives each side the addresses, mirrored, and a socket that is never connected', () => {
    const [a, b] = connectionPair();
    expect(a.localAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: 49152 });
    expect(a.remoteAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: 49153 });
    expect(b.localAddress).toEqual(a.remoteAddress);
    expect(b.remoteAddress).toEqual(a.localAddress);
    expect(a.socket.nodeSocket).toBeInstanceOf(net.Socket);
    expect(a.socket.nodeSocket.remoteAddress).toBeUndefined();
    expect(a.socket.setNoDelay().setKeepAlive(true, 1000)).toBe(a.socket); // harmless
    const server: UnixAddress = { family: 'unix', path: '/run/app.sock' };
    const client: UnixAddress = { family: 'unix', path: '' };
    const [c, s] = connectionPair({ addresses: [client, server] });
    expect([c.remoteAddress, s.localAddress, s.socket.family]).toEqual([server, server, 'unix']);
  });

  it('throws at the call on bad options, quoting the value', () => {
    expect(DEFAULT_WINDOW_SIZE).toBe(65_536);
    expect(() => connectionPair({ windowSize: 0 })).toThrow(RangeError);
    expect(() => connectionPair({ windowSize: 0 })).toThrow(/windowSize must be an integer >= 1, got 0/);
    expect(() => connectionPair({ windowSize: 1.5 })).toThrow(/windowSize must be an integer >= 1, got 1.5/);
    expect(() => connectionPair({ windowSize: '8' as unknown as number })).toThrow(TypeError);
    expect(() => connectionPair({ readerBufferSize: -1 })).toThrow(/readerBufferSize .* got -1/);
    expect(() =>
      connectionPair({
        addresses: [
          { family: 'inet', host: '127.0.0.1', port: 1 },
          { family: 'unix', path: '/x' },
        ] as never,
      }),
    ).toThrow(/addresses must be two addresses of the same family, got \[/);
  });
});
