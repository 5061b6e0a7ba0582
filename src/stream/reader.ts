import { asapScheduler, Observable, of, type Subscriber, type TeardownLogic } from 'rxjs';
import { ByteQueue } from '../bytes/byte-queue';
import {
  ContentsDecoder,
  DelimiterDecoder,
  ExactDecoder,
  type FrameDecoder,
  type ShortRead,
  Utf8LineDecoder,
} from '../bytes/frame-decoder';
import { DEFAULT_MAX_LINE_LENGTH, MAX_LIMIT } from '../bytes/limits';
import { ConcurrentReadError, ReaderClosedError } from '../errors';
import { checkPositiveInteger } from '../validate';
import type { Writer, WriterWatcher } from './writer';

/**
 * The value a pull read gives at end of stream, when no byte at all is left.
 *
 * ```ts
 * import { firstValueFrom } from 'rxjs';
 * import { EOF, type Reader } from 'rx-tcp';
 *
 * async function firstLine(reader: Reader): Promise<string | undefined> {
 *   const line = await firstValueFrom(reader.readLine());
 *   return line === EOF ? undefined : line;
 * }
 * ```
 */
export const EOF: unique symbol = Symbol('rx-tcp.EOF');
/** The type of {@link EOF}. */
export type EOF = typeof EOF;

export type { ShortRead };

/** Options of {@link Reader.readUntil}. */
export interface ReadUntilOptions {
  /** Keep the delimiter at the end of the returned bytes. Default `false`. */
  keepDelimiter?: boolean;
  /**
   * The most bytes (delimiter excluded) to wait for; beyond it the read fails with a
   * `FrameTooLongError` and the bytes stay unread. Default `Infinity`.
   */
  max?: number;
}

/** Options of {@link Reader.readLine} and {@link Reader.lines}. */
export interface ReadLineOptions {
  /**
   * The longest line, in bytes without its line ending; a longer one fails the read with a
   * `FrameTooLongError` as soon as that many bytes are in, without holding the line whole, and
   * its bytes stay unread. Default `65_536` (64 KiB), as for the `lines()` operator.
   */
  max?: number;
}

/** What a Reader reads from: the connection's transport, seen from the reading side. */
export interface ReaderSource {
  pause(): void;
  resume(): void;
  /**
   * The Reader was closed. True if the writer was done already: `close()` then completes once the
   * connection is closed; otherwise at once.
   */
  readerClosed(): boolean;
  /** Completes once the connection is closed. */
  closed(): Observable<void>;
}

/** What `close()` returns for a reader closed before the writer was done: nothing to wait for. */
const RELEASED: Observable<void> = of(undefined);

/** One consumption at a time: a push subscription, a pull read, `lines()` or `transfer()`. */
interface Consumer {
  /** Whom the consumption is for: a consumer that cannot start errors it. */
  readonly subscriber: Subscriber<never>;
  /** Called whenever bytes were queued or the stream reached a terminal state. */
  pump(): void;
  /** True while the consumer takes whatever arrives (then the socket is never paused for it). */
  hungry: boolean;
  /** A push subscriber: takes a chunk directly when nothing is queued, skipping the queue. */
  readonly direct: boolean;
}

/**
 * The queue of a reader that has had nothing to keep yet, shared and always empty: many idle
 * connections need no queue each. Reading from an empty queue changes nothing in it.
 */
const NO_BYTES = new ByteQueue();
/** A chunk decoder: each frame is whatever arrived next, uncopied. */
const CHUNKS: FrameDecoder<Buffer> = { decode: (queue) => queue.shift(), finish: () => undefined };

/**
 * The receiving side of a connection: an `Observable<Buffer>` of received chunks, plus Async's
 * pull reads (`readLine`, `readUntil`, `reallyRead`, `contents`, `lines`, `transfer`).
 *
 * One consumer at a time, as in Async: a second subscription or pull read made while another is
 * active fails with a `ConcurrentReadError`. Bytes that arrive while nobody reads are kept (never
 * dropped) up to `readerBufferSize`; past it the socket is paused, so a slow consumer slows the
 * peer down instead of growing memory. The reader completes at the peer's FIN (our writer stays
 * usable: half-close) and errors on a reset, after every byte received before it was delivered.
 *
 * Pull reads are one-value Observables; unsubscribing from one before it emits leaves the bytes in
 * place for the next read.
 *
 * ```ts
 * import { firstValueFrom } from 'rxjs';
 * import { connect, toHostAndPort, EOF } from 'rx-tcp';
 *
 * const { reader, writer } = await firstValueFrom(connect(toHostAndPort('127.0.0.1', 6379)));
 * writer.write('PING\r\n');
 * const reply = await firstValueFrom(reader.readLine());
 * console.log(reply === EOF ? 'closed' : reply); // +PONG
 * await firstValueFrom(writer.close());
 * await firstValueFrom(reader.close());
 * ```
 */
export class Reader extends Observable<Buffer> {
  /** Bytes received and not read yet: `NO_BYTES` until the first chunk has to wait. */
  private queue = NO_BYTES;
  private state: 'open' | 'ended' | 'failed' | 'closed' = 'open';
  private failure: unknown;
  private consumer: Consumer | null = null;
  private paused = false;
  /** The reader's user closed it: a read now is the user's bug. */
  private closedByCaller = false;
  /** @internal Pull reads answered from the buffer at once since one last waited (see PullObservable). */
  answeredInARow = 0;
  /** Closed once the writer was done: `close()` waits for the connection to close. */
  private closedAfterWriter = false;
  /** What `close()` returns, made at its first call. */
  private closeResult: Observable<void> | undefined;

  /** @internal */
  constructor(
    private readonly input: ReaderSource,
    /** How many unread bytes are held before the socket is paused. */
    readonly bufferSize: number,
  ) {
    super();
  }

  /** @internal Subscribing to the reader itself: a push subscription to the chunks. */
  protected _subscribe(subscriber: Subscriber<Buffer>): TeardownLogic {
    return this.subscribeChunks(subscriber);
  }

  /** Bytes received and not read yet. */
  get bytesBuffered(): number {
    return this.queue.length;
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** The next chunk received (whatever is first in line), or `EOF`. */
  read(): Observable<Buffer | EOF> {
    return this.pull(CHUNKS);
  }

  /**
   * The next line, as a UTF-8 string without its line ending: splits on `\n`, strips one `\r`
   * before it, and returns an unterminated last line as it is; `EOF` at end of stream.
   * @param options `max` (default 64 KiB): a longer line is a `FrameTooLongError`.
   */
  readLine(options: ReadLineOptions = {}): Observable<string | EOF> {
    return this.pull(new Utf8LineDecoder(maxLine('readLine', options)));
  }

  /**
   * The bytes up to the next `delimiter` (removed from the stream; kept in the result with
   * `keepDelimiter`), the bytes left at end of stream if no delimiter comes, or `EOF`.
   * @param delimiter A non-empty byte sequence or string (UTF-8).
   * @param options `keepDelimiter` (default `false`), `max` (default `Infinity`).
   */
  readUntil(delimiter: string | Uint8Array, options: ReadUntilOptions = {}): Observable<Buffer | EOF> {
    const { keepDelimiter = false, max = Number.POSITIVE_INFINITY } = options;
    const bytes = typeof delimiter === 'string' ? Buffer.from(delimiter) : Buffer.from(delimiter);
    if (bytes.length === 0)
      throw new RangeError(`readUntil: the delimiter must not be empty, got ${JSON.stringify(delimiter)}`);
    if (!(max > 0) || (max !== Number.POSITIVE_INFINITY && !Number.isInteger(max))) {
      throw new RangeError(`readUntil: max must be a positive integer or Infinity, got ${max}`);
    }
    return this.pull(
      new DelimiterDecoder(bytes, { keepDelimiter, maxFrameLength: max, stripCarriageReturn: false }),
    );
  }

  /**
   * Exactly `n` bytes; at end of stream after fewer, `{ short: true, data }`; `EOF` if none came.
   * @param n A positive integer.
   */
  reallyRead(n: number): Observable<Buffer | ShortRead | EOF> {
    if (!Number.isInteger(n) || n <= 0)
      throw new RangeError(`reallyRead: n must be a positive integer, got ${n}`);
    return this.pull(new ExactDecoder(n));
  }

  /** Everything until end of stream, as one Buffer (empty if nothing came). */
  contents(): Observable<Buffer> {
    return this.pull(new ContentsDecoder(), undefined, Buffer.alloc(0)) as Observable<Buffer>;
  }

  /**
   * Every remaining line, as UTF-8 strings (see {@link Reader.readLine}); completes at end of stream.
   * @param options `max` (default 64 KiB): a longer line is a `FrameTooLongError`.
   */
  lines(options: ReadLineOptions = {}): Observable<string> {
    const max = maxLine('lines', options);
    return new Observable<string>((subscriber) =>
      this.attach(new Pull(this, new Utf8LineDecoder(max), subscriber, false, undefined)),
    );
  }

  /**
   * Moves every chunk (mapped by `f` if given) into `writer`, with pushback: the next chunk is
   * taken only once the writer's unflushed bytes are below this reader's buffer size, so a proxy
   * or an echo built on it holds bounded memory whatever the peers do.
   *
   * Tied to the writer's life, as Async's `transfer` is: completes at end of stream (the writer is
   * left open) or when the writer is closed, by anyone; errors when the stream fails, when the
   * writer fails or its peer leaves (`ConsumerLeftError`, `BufferAgeLimitError`: it never reads on
   * into a writer that cannot send), and when `f` throws.
   *
   * ```ts
   * import { Server, onPortChosenByOs } from 'rx-tcp';
   *
   * Server.create(onPortChosenByOs, (_address, reader, writer) => reader.transfer(writer)).subscribe();
   * ```
   */
  transfer(writer: Writer, f?: (chunk: Buffer) => string | Uint8Array): Observable<void> {
    return new TransferObservable(this, writer, f);
  }

  /** @internal Moves queued chunks into the transfer's writer until the writer must flush first. */
  pumpTransfer(transfer: Transfer): void {
    const { writer, f } = transfer;
    try {
      // A writer that stopped taking bytes has ended the transfer, or is about to (its watcher).
      while (this.consumer === transfer && transfer.waiting === undefined && writer.state === 'open') {
        const chunk = this.queue.shift();
        if (chunk === undefined) break;
        writer.write(f === undefined ? chunk : f(chunk));
        if (writer.bytesToWrite >= this.bufferSize) this.awaitFlush(transfer);
      }
    } catch (error) {
      // `f` threw: the transfer's error, never the socket event's that brought the bytes.
      this.endTransfer(transfer, error);
      return;
    }
    if (this.consumer === transfer && transfer.waiting === undefined && this.queue.length === 0) {
      this.settle(transfer, transfer.subscriber, undefined);
    }
  }

  /** @internal Ends `transfer`: complete (`failure` undefined) or error, at most once. */
  endTransfer(transfer: Transfer, failure: unknown): void {
    if (this.consumer !== transfer) return;
    this.release(transfer);
    // The subscriber's teardown (Transfer.unsubscribe) lets go of the writer.
    if (failure === undefined) transfer.subscriber.complete();
    else transfer.subscriber.error(failure);
  }

  /** Stops `transfer` taking chunks until its writer has flushed. */
  private awaitFlush(transfer: Transfer): void {
    // flushed() emits during subscribe when the OS takes everything at once: go on then.
    let subscribing = true;
    let flushedAtOnce = false;
    const wait = transfer.writer.flushed().subscribe({
      next: () => {
        if (subscribing) {
          flushedAtOnce = true;
          return;
        }
        transfer.waiting = undefined;
        transfer.hungry = true;
        transfer.pump();
        this.regulate();
      },
      error: (error) => this.endTransfer(transfer, error),
    });
    subscribing = false;
    if (!flushedAtOnce) {
      transfer.hungry = false;
      transfer.waiting = wait;
    }
  }

  /**
   * Stops reading and drops what is buffered; whatever arrives later is discarded. Idempotent:
   * every call returns the same Observable, which completes once the reader's side is released (and,
   * if the writer is closed already, once the connection is). A read still waiting gets `EOF`, a
   * subscriber completes, and later reads fail with a `ReaderClosedError`. (After a close made for
   * you — a server's idle timeout or `close`, `withConnection` ending — they get `EOF` instead.)
   */
  close(): Observable<void> {
    this.shut(true);
    this.closeResult ??= this.closedAfterWriter ? this.input.closed() : RELEASED;
    return this.closeResult;
  }

  /**
   * @internal `close()` without its result, for the connection closing its reader itself.
   * `byCaller`: the reader's user closed it (a read then fails); otherwise a read then gets `EOF`.
   */
  shut(byCaller = false): void {
    if (byCaller) this.closedByCaller = true;
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.queue = NO_BYTES;
    this.consumer?.pump();
    this.closedAfterWriter = this.input.readerClosed();
    this.regulate();
  }

  /** @internal Bytes from the transport. */
  push(chunk: Buffer): void {
    if (this.state !== 'open') return;
    const consumer = this.consumer;
    if (consumer?.direct && this.queue.length === 0) {
      try {
        (consumer as Pull<Buffer, Buffer>).subscriber.next(chunk);
      } catch (error) {
        // Not from RxJS's own subscribers, which catch; from a hand-made one, never into Node.
        this.release(consumer);
        consumer.subscriber.error(error);
      }
    } else {
      if (this.queue === NO_BYTES) this.queue = new ByteQueue();
      this.queue.push(chunk);
      consumer?.pump();
    }
    this.regulate();
  }

  /** @internal The peer's FIN. */
  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    this.consumer?.pump();
  }

  /** @internal The connection failed or was torn down under the reader. */
  fail(error: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.failure = error;
    this.consumer?.pump();
  }

  /** @internal True once the peer's FIN was received. */
  get ended(): boolean {
    return this.state === 'ended';
  }

  private subscribeChunks(subscriber: Subscriber<Buffer>): TeardownLogic {
    return this.attach(new Pull(this, CHUNKS, subscriber, false, undefined, undefined, true));
  }

  /** A one-value read: the first frame `decoder` cuts, or `EOF` (or `atEnd`) at end of stream. */
  private pull<F, T = F>(
    decoder: FrameDecoder<F>,
    map?: (frame: F) => T,
    atEnd: T | EOF = EOF,
  ): Observable<T | EOF> {
    return new PullObservable(this, decoder, map, atEnd);
  }

  /**
   * @internal The next frame `decoder` cuts from the bytes buffered, when nobody else reads and the
   * reader is not closed; `undefined` otherwise. Throws what the decoder throws.
   */
  takeBuffered<F>(decoder: FrameDecoder<F>): F | undefined {
    if (this.consumer !== null || this.state === 'closed' || this.queue.length === 0) return undefined;
    const frame = decoder.decode(this.queue);
    if (frame !== undefined) this.regulate();
    return frame;
  }

  /** @internal Starts `consumer` for its subscriber; returns the teardown (the consumer itself). */
  attach(consumer: Consumer & { unsubscribe(): void }): TeardownLogic {
    if (!this.claim(consumer.subscriber)) return undefined;
    this.consumer = consumer;
    consumer.pump();
    this.regulate();
    return consumer;
  }

  /** @internal A pull consumer was unsubscribed. */
  detach(consumer: Consumer): void {
    this.release(consumer);
  }

  /** Checks that `subscriber` may read now; errors it otherwise. */
  private claim(subscriber: Subscriber<unknown>): boolean {
    if (this.consumer !== null) {
      subscriber.error(new ConcurrentReadError());
      return false;
    }
    // Closed for the caller (an idle timeout, say), a read is not the caller's bug: it gets EOF.
    if (this.state === 'closed' && this.closedByCaller) {
      subscriber.error(new ReaderClosedError());
      return false;
    }
    return true;
  }

  /**
   * @internal Cuts frames with the consumer's decoder and emits them (mapped); a one-value read
   * completes after the first frame. At end of stream the decoder's last frame is emitted, then,
   * for a one-value read that got nothing, its `atEnd`.
   */
  pumpPull<F, T>(consumer: Pull<F, T>): void {
    const { decoder, subscriber, once } = consumer;
    try {
      while (this.consumer === consumer) {
        const frame = decoder.decode(this.queue);
        if (frame === undefined) break;
        if (once) this.release(consumer);
        consumer.emit(frame);
        if (once) {
          subscriber.complete();
          return;
        }
      }
      if (this.consumer !== consumer || this.state === 'open') return;
      if (this.state === 'ended') {
        const last = decoder.finish(this.queue);
        this.release(consumer);
        if (last !== undefined) consumer.emit(last);
        else if (once) subscriber.next(consumer.atEnd as T | EOF);
        subscriber.complete();
      } else {
        this.settle(consumer, subscriber, once ? (consumer.atEnd as T | EOF) : undefined);
      }
    } catch (error) {
      this.release(consumer);
      subscriber.error(error);
    }
  }

  /** Ends `consumer` on a failed or closed reader; on a closed one a one-value read gets `atEnd`. */
  private settle<T>(consumer: Consumer, subscriber: Subscriber<T>, atEnd: T | undefined): void {
    if (this.state === 'open') return;
    this.release(consumer);
    if (this.state === 'failed') {
      subscriber.error(this.failure);
      return;
    }
    if (atEnd !== undefined) subscriber.next(atEnd);
    subscriber.complete();
  }

  private release(consumer: Consumer): void {
    if (this.consumer !== consumer) return;
    this.consumer = null;
    this.regulate();
  }

  /**
   * Pauses the socket while too many bytes wait unread and nobody is waiting for more; resumes it
   * otherwise. A closed reader keeps the socket flowing so that what arrives can be discarded.
   */
  private regulate(): void {
    const pause =
      this.state === 'open' && this.queue.length >= this.bufferSize && !(this.consumer?.hungry ?? false);
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) this.input.pause();
    else this.input.resume();
  }
}

/**
 * `reader.transfer(writer, f)`: an Observable and, per subscription, a consumer object, rather
 * than closures, since a server may hold one per connection for the connection's lifetime.
 */
class TransferObservable extends Observable<void> {
  constructor(
    private readonly reader: Reader,
    private readonly writer: Writer,
    private readonly f: ((chunk: Buffer) => string | Uint8Array) | undefined,
  ) {
    super();
  }

  protected _subscribe(subscriber: Subscriber<void>): TeardownLogic {
    const transfer = new Transfer(this.reader, this.writer, this.f, subscriber);
    const teardown = this.reader.attach(transfer);
    // Watched once it reads: a writer that stopped already ends the transfer here and now.
    if (teardown !== undefined && !subscriber.closed) this.writer.watch(transfer);
    return teardown;
  }
}

/** One running transfer: the reader's consumer, its writer's watcher, and the subscription's teardown. */
class Transfer implements Consumer, WriterWatcher {
  hungry = true;
  readonly direct = false;
  /** While the writer flushes: the subscription to `flushed()`. */
  waiting: { unsubscribe(): void } | undefined = undefined;

  constructor(
    private readonly reader: Reader,
    readonly writer: Writer,
    readonly f: ((chunk: Buffer) => string | Uint8Array) | undefined,
    readonly subscriber: Subscriber<void>,
  ) {}

  pump(): void {
    this.reader.pumpTransfer(this);
  }

  writerStopped(failure: unknown): void {
    this.reader.endTransfer(this, failure);
  }

  /** The teardown: lets go of the writer (no flush wait, no watch) and of the reader. */
  unsubscribe(): void {
    this.waiting?.unsubscribe();
    this.waiting = undefined;
    this.writer.unwatch(this);
    this.reader.detach(this);
  }
}

/** How many pull reads in a row a reader answers from its buffer at once before one waits a microtask. */
const MAX_ANSWERED_IN_A_ROW = 100;

/** A pull read (`read`, `readLine`, …): the decoder is made by the call, as before subscribing. */
class PullObservable<F, T> extends Observable<T | EOF> {
  constructor(
    private readonly reader: Reader,
    private readonly decoder: FrameDecoder<F>,
    private readonly map: ((frame: F) => T) | undefined,
    private readonly atEnd: T | EOF,
  ) {
    super();
  }

  protected _subscribe(subscriber: Subscriber<T | EOF>): TeardownLogic {
    const { reader } = this;
    if (reader.answeredInARow < MAX_ANSWERED_IN_A_ROW) return this.subscribeNow(subscriber);
    reader.answeredInARow = 0;
    // A read loop written as `defer(() => reader.readLine()).pipe(repeat())` starts the next read
    // from the last one's completion, one stack frame deeper each time: over a peer's thousands of
    // pipelined lines, each answered at once, the stack would overflow. Now and then a read starts
    // on a fresh stack instead.
    // (asapScheduler: a microtask, which TestScheduler.run makes virtual, in the same frame.)
    let teardown: TeardownLogic;
    const start = asapScheduler.schedule(() => {
      teardown = this.subscribeNow(subscriber);
    });
    return () => {
      start.unsubscribe();
      if (teardown instanceof Pull) teardown.unsubscribe();
    };
  }

  private subscribeNow(subscriber: Subscriber<T | EOF>): TeardownLogic {
    const { reader, decoder, map } = this;
    // The frame is buffered already (a pipelined request, say): no consumer to set up and release.
    let frame: F | undefined;
    try {
      frame = reader.takeBuffered(decoder);
    } catch (error) {
      subscriber.error(error);
      return undefined;
    }
    if (frame !== undefined) {
      reader.answeredInARow++;
      subscriber.next(map === undefined ? (frame as unknown as T) : map(frame));
      subscriber.complete();
      return undefined;
    }
    reader.answeredInARow = 0;
    return reader.attach(new Pull(reader, decoder, subscriber, true, map, this.atEnd));
  }
}

/**
 * A consumer cutting frames with a decoder (a pull read, `lines()`, or, with the chunk decoder and
 * `direct`, a push subscription), and the teardown of its subscription. A class with one shape,
 * rather than closures, for the reads of a request/response loop.
 */
class Pull<F, T> implements Consumer {
  hungry = true;

  constructor(
    private readonly reader: Reader,
    readonly decoder: FrameDecoder<F>,
    readonly subscriber: Subscriber<T | EOF>,
    /** A one-value read: completes after the first frame. */
    readonly once: boolean,
    private readonly map: ((frame: F) => T) | undefined,
    /** What a one-value read gives at end of stream when no byte is left. */
    readonly atEnd?: T | EOF,
    readonly direct = false,
  ) {}

  emit(frame: F): void {
    this.subscriber.next(this.map === undefined ? (frame as unknown as T) : this.map(frame));
  }

  pump(): void {
    this.reader.pumpPull(this);
  }

  unsubscribe(): void {
    this.reader.detach(this);
  }
}

/** The `max` of `readLine`/`lines` options, checked. */
function maxLine(caller: string, options: ReadLineOptions): number {
  const { max = DEFAULT_MAX_LINE_LENGTH } = options;
  return checkPositiveInteger(caller, 'max', max, MAX_LIMIT);
}
