import { asapScheduler, type Observable, ReplaySubject, type Subscription } from 'rxjs';
import type { RunHelpers, TestScheduler } from 'rxjs/testing';
import type { Address, InetAddress } from '../address';
import { type Connection, type ConnectionOptions, checkConnectionOptions } from '../connection';
import { Writer } from '../stream/writer';
import { checkBoolean, checkNumber, describe } from '../validate';
import { DEFAULT_WINDOW_SIZE } from './connection-pair';
import { checkAddresses, DEFAULT_MEMORY_ADDRESSES, memoryConnection } from './memory-connection';
import { memoryTransportPair } from './memory-transport';

/** Options of {@link marbleConnection}. */
export interface MarbleConnectionOptions<A extends Address = InetAddress>
  extends Omit<ConnectionOptions, 'scheduler'> {
  /**
   * Whether the peer reads what the code under test writes. With `false` it never does: once
   * `windowSize` bytes are in flight, writes wait in the writer, and its `bufferAgeLimit` runs out
   * in virtual time. Default `true`.
   */
  peerReads?: boolean;
  /** Bytes in flight per direction, as in `connectionPair`. Default `65_536` (64 KiB). */
  windowSize?: number;
  /**
   * The connection's own address, then the peer's. Default `127.0.0.1:49152` and `127.0.0.1:49153`.
   */
  addresses?: readonly [A, A];
}

/** What the peer of a {@link marbleConnection} sends: the cold Observable made from the marbles. */
export type MarbleInput = ReturnType<
  typeof TestScheduler.prototype.createColdObservable<string | Uint8Array>
>;

/** The result of {@link marbleConnection}. */
export interface MarbleConnection<A extends Address = InetAddress> {
  /** The connection to give the code under test. */
  readonly connection: Connection<A>;
  /**
   * What the code under test wrote: one UTF-8 string per `write` (a `writeLine` is one write, line
   * ending included), at the virtual time of the call. Completes when the writer is closed (FIN
   * sent), errors if it failed (a forced close, a buffer-age limit, a peer gone with bytes
   * lost). Replays earlier writes to a late subscriber.
   */
  readonly writes: Observable<string>;
  /**
   * The peer's input, for `expectSubscriptions(input.subscriptions)`: the peer stops sending when
   * the input ends, or when the connection resets it (it sent data after our side closed).
   */
  readonly input: MarbleInput;
}

/** The part of `TestScheduler.run`'s helpers that {@link marbleConnection} uses. */
export type MarbleHelpers = Pick<RunHelpers, 'cold'>;

/**
 * An in-memory connection whose peer sends what a marble diagram says, for testing a protocol in
 * virtual time inside `TestScheduler.run`.
 *
 * The peer sends each value of `marbles` (a string, sent as UTF-8, or bytes) at its frame; `|` is
 * its FIN (the reader completes, the writer stays usable) and `#` a reset (the reader errors with
 * an `ECONNRESET` error). The connection has the Reader and Writer of a real one (see
 * `connectionPair`), so timeouts, idle timeouts and buffer-age limits of the code under test run in
 * virtual time, and `expectObservable(writes).toBe(...)` states what it answers, and when.
 *
 * ```ts
 * import { TestScheduler } from 'rxjs/testing';
 * import { map } from 'rxjs';
 * import { marbleConnection } from 'rx-tcp/testing';
 *
 * new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run((helpers) => {
 *   const { connection, writes } = marbleConnection(helpers, '-a--b|', { a: 'hi\n', b: 'bye\n' });
 *   // The code under test: shouts every line back, and closes at the peer's FIN.
 *   connection.reader.lines().pipe(map((line) => `${line.toUpperCase()}\n`)).subscribe(connection.writer);
 *   helpers.expectObservable(writes).toBe('-a--b|', { a: 'HI\n', b: 'BYE\n' });
 * });
 * ```
 * @param helpers The helpers `TestScheduler.run` gives its callback.
 * @param marbles What the peer sends, as a cold marble diagram.
 * @param values The strings or bytes the letters of `marbles` stand for. Default: each letter
 *   stands for itself, as a string.
 * @param options `peerReads` (default `true`), `windowSize` (default 64 KiB), `addresses`,
 *   `readerBufferSize` (default 128 KiB), `bufferAgeLimit` (default `120_000` ms).
 */
export function marbleConnection<A extends Address = InetAddress>(
  helpers: MarbleHelpers,
  marbles: string,
  values?: Record<string, string | Uint8Array>,
  options: MarbleConnectionOptions<A> = {},
): MarbleConnection<A> {
  if (typeof helpers !== 'object' || helpers === null || typeof helpers.cold !== 'function') {
    throw new TypeError(
      `marbleConnection: helpers must be the helpers of TestScheduler.run, got ${describe(helpers)}`,
    );
  }
  if (typeof marbles !== 'string') {
    throw new TypeError(`marbleConnection: marbles must be a string, got ${describe(marbles)}`);
  }
  if (values !== undefined) {
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
        throw new TypeError(
          `marbleConnection: values.${key} must be a string or a Uint8Array, got ${describe(value)}`,
        );
      }
    }
  }
  checkConnectionOptions('marbleConnection', options);
  const {
    peerReads = true,
    windowSize = DEFAULT_WINDOW_SIZE,
    addresses = DEFAULT_MEMORY_ADDRESSES as unknown as readonly [A, A],
  } = options;
  checkBoolean('marbleConnection', 'peerReads', peerReads);
  checkNumber('marbleConnection', 'windowSize', windowSize, 1, true);
  checkAddresses('marbleConnection', addresses);

  // asapScheduler and the connection's default schedulers are virtual inside TestScheduler.run.
  const [local, peer] = memoryTransportPair(windowSize, asapScheduler);
  const connection = memoryConnection(local, addresses[0], addresses[1], options, {
    writerClass: RecordingWriter,
  });
  const { writes } = connection.writer as RecordingWriter;
  connection.writer.closeFinished.subscribe({
    complete: () => writes.complete(),
    error: (error) => writes.error(error),
  });

  const input = helpers.cold<string | Uint8Array>(marbles, values);
  let sending: Subscription | undefined;
  const ignore = () => {};
  peer.start({
    onData: ignore, // the writes are recorded by the writer, at the time they are made
    onEnd: ignore, // half-close: the peer goes on sending its script
    onError: ignore, // onClose follows
    onClose: () => sending?.unsubscribe(),
  });
  if (!peerReads) peer.pause();
  sending = input.subscribe({
    next: (value) => peer.write(typeof value === 'string' ? Buffer.from(value, 'utf8') : value, ignore),
    error: () => peer.abort(),
    complete: () => peer.end(ignore),
  });
  return { connection, writes: writes.asObservable(), input };
}

/**
 * The writer of a {@link marbleConnection}: a `Writer` that also records each write as it is
 * made, for `writes`. A `writeLine` is one write, its line ending included.
 */
class RecordingWriter extends Writer {
  /** Each write, as UTF-8 text, at the time it was made. */
  readonly writes = new ReplaySubject<string>();

  override write(data: string | Uint8Array): void {
    // What the writer refuses (after the caller's own close, or not bytes) throws unrecorded.
    if (!this.closedByCaller && (typeof data === 'string' || data instanceof Uint8Array)) {
      // Decoded at once: the caller may reuse a small buffer as soon as write returns.
      this.writes.next(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
    }
    super.write(data);
  }

  override writeLine(text: string): void {
    this.write(`${text}\n`);
  }
}
