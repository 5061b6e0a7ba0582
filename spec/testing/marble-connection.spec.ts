import { WriterClosedError } from 'rx-tcp';
import { marbleConnection } from 'rx-tcp/testing';
import { catchError, EMPTY, map, type Observable, of, take, timeout } from 'rxjs';
import { testScheduler } from '../helpers/marbles';

/** Values as they are; an error as its code, or else its name. */
function orError<T>(source: Observable<T>): Observable<T | string> {
  return source.pipe(catchError((error) => of(`${error.code ?? error.name}`)));
}

describe('marbleConnection', () => {
  it('sends the marbles; writes shows every write at its virtual time and completes with the writer', () => {
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(helpers, '-a--b|', { a: 'hi\n', b: 'bye\n' });
      const { reader, writer } = connection;
      reader
        .lines()
        .pipe(map((line) => `${line.toUpperCase()}\n`))
        .subscribe(writer); // the peer's FIN completes lines(), which closes the writer
      helpers.expectObservable(writes).toBe('-a--b|', { a: 'HI\n', b: 'BYE\n' });
    });
  });

  it('takes the letters themselves as strings without values', () => {
    testScheduler().run((helpers) => {
      const { connection } = marbleConnection(helpers, 'x-y|');
      helpers.expectObservable(connection.reader.pipe(map(String))).toBe('x-y|');
    });
  });

  it('makes # a reset: the reader errors with ECONNRESET after what came before', () => {
    testScheduler().run((helpers) => {
      const { connection } = marbleConnection(helpers, '-a-#', { a: 'partial' });
      helpers
        .expectObservable(orError(connection.reader.pipe(map(String))))
        .toBe('-a-(e|)', { a: 'partial', e: 'ECONNRESET' });
      helpers.expectObservable(connection.writer.consumerLeft).toBe('---(x|)', { x: undefined });
    });
  });

  it('sends bytes as given, and shows one UTF-8 string per write (a writeLine is one write)', () => {
    testScheduler().run((helpers) => {
      const bytes = Uint8Array.from([0xc3, 0xa9]); // 'é' in UTF-8
      const { connection, writes } = marbleConnection(helpers, '--b', { b: bytes });
      connection.reader.subscribe((chunk) => {
        connection.writer.write(chunk);
        connection.writer.writeLine(`${chunk.length} bytes`);
      });
      helpers.expectObservable(writes).toBe('--(ab)', { a: 'é', b: '2 bytes\n' });
    });
  });

  it('shows a long writeLine as one write too, and no write the writer refused', () => {
    testScheduler().run((helpers) => {
      const long = 'x'.repeat(5000);
      const { connection, writes } = marbleConnection(helpers, '-');
      const { writer } = connection;
      writer.writeLine(long);
      expect(() => writer.write(5 as never)).toThrow(
        new TypeError('write: data must be a string or a Uint8Array, got 5'),
      );
      writer.close();
      expect(() => writer.write('late')).toThrow(WriterClosedError);
      helpers.expectObservable(writes).toBe('(a|)', { a: `${long}\n` });
    });
  });

  it('replays earlier writes to a late subscriber', () => {
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(helpers, '-a-b', { a: '1', b: '2' });
      connection.reader.subscribe((chunk) => connection.writer.write(`got ${chunk}`));
      helpers.expectObservable(writes, '-----^').toBe('-----(ab)', { a: 'got 1', b: 'got 2' });
      helpers.expectObservable(writes, '--^').toBe('--ab', { a: 'got 1', b: 'got 2' });
    });
  });

  it('runs a timeout of the code under test in virtual time', () => {
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(helpers, '-a|', { a: 'ping\n' });
      const { reader, writer } = connection;
      // Answers each line; with nothing to answer for 1 s after the peer's FIN (half-close), says so.
      reader
        .lines()
        .pipe(
          map((line) => `${line}?\n`),
          timeout({ each: 1000, with: () => EMPTY }),
        )
        .subscribe({
          next: (answer) => writer.write(answer),
          complete: () => {
            writer.writeLine('done');
            writer.close();
          },
        });
      helpers.expectObservable(writes).toBe('-a(b|)', { a: 'ping?\n', b: 'done\n' });
      const late = marbleConnection(helpers, '-a', { a: 'ping\n' });
      late.connection.reader
        .lines()
        .pipe(take(2), timeout({ each: 1000, with: () => EMPTY }))
        .subscribe({ complete: () => late.connection.writer.close() });
      helpers.expectObservable(late.writes).toBe('- 1000ms |'); // at 1 + 1000
    });
  });

  it('runs the buffer-age limit in virtual time against a peer that does not read', () => {
    testScheduler().run((helpers) => {
      const { connection, writes, input } = marbleConnection(
        helpers,
        '1s a',
        { a: 'still there?' },
        {
          peerReads: false,
          windowSize: 16,
          bufferAgeLimit: 500,
        },
      );
      connection.writer.write('x'.repeat(40)); // 16 in flight, 24 waiting in the writer
      helpers
        .expectObservable(orError(writes))
        .toBe('a 499ms (e|)', { a: 'x'.repeat(40), e: 'ERR_RXTCP_BUFFER_AGE_LIMIT' });
      helpers.expectObservable(connection.closed).toBe('500ms (x|)', { x: undefined });
      // The connection was reset under the peer, which does not read: it learns it when it next sends.
      helpers.expectSubscriptions(input.subscriptions).toBe('^ 999ms !');
    });
  });

  it('stops the peer when our side closed and answered its next bytes with a reset', () => {
    testScheduler().run((helpers) => {
      const { connection, writes, input } = marbleConnection(helpers, '-a--b--c|', {
        a: 'first\n',
        b: 'second\n',
        c: 'third\n',
      });
      connection.reader
        .lines()
        .pipe(take(1))
        .subscribe({
          next: (line) => connection.writer.writeLine(`only ${line}`),
          complete: () => connection.close().subscribe(),
        });
      helpers.expectObservable(writes).toBe('-(a|)', { a: 'only first\n' });
      helpers.expectSubscriptions(input.subscriptions).toBe('^---!');
    });
  });

  it('errors writes when the writer closes by force: the unsent bytes are a failure', () => {
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(helpers, '', undefined, {
        peerReads: false,
        windowSize: 4,
        bufferAgeLimit: 'unlimited',
      });
      connection.writer.write('too much');
      connection.writer.close({ forceCloseAfter: 100 });
      const forced = expect.objectContaining({
        name: 'ConnectionAbortedError',
        message: expect.stringMatching(/force-closed with 8 bytes unsent/),
      });
      helpers.expectObservable(writes).toBe('a 99ms #', { a: 'too much' }, forced);
    });
  });

  it('throws at the call on bad arguments, quoting them', () => {
    testScheduler().run((helpers) => {
      expect(() => marbleConnection({} as never, '-')).toThrow(
        new TypeError('marbleConnection: helpers must be the helpers of TestScheduler.run, got {}'),
      );
      expect(() => marbleConnection(helpers, 5 as never)).toThrow(
        new TypeError('marbleConnection: marbles must be a string, got 5'),
      );
      expect(() => marbleConnection(helpers, 'a', { a: 5 as never })).toThrow(
        new TypeError('marbleConnection: values.a must be a string or a Uint8Array, got 5'),
      );
      expect(() => marbleConnection(helpers, 'a', undefined, { peerReads: 'no' as never })).toThrow(
        new TypeError('marbleConnection: peerReads must be a boolean, got "no"'),
      );
      expect(() => marbleConnection(helpers, 'a', undefined, { windowSize: 0 })).toThrow(RangeError);
      expect(() => marbleConnection(helpers, 'a', undefined, { bufferAgeLimit: -1 })).toThrow(
        /bufferAgeLimit .* got -1/,
      );
    });
  });
});
