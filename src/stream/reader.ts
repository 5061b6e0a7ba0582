import { Observable, of, type Subscriber, type TeardownLogic } from 'rxjs';
import { ByteQueue } from '../bytes/byte-queue';
import { ExactDecoder, type ShortRead } from '../bytes/exact-decoder';
import { ContentsDecoder, DelimiterDecoder, type FrameDecoder } from '../bytes/frame-decoder';
import { DEFAULT_MAX_LINE_LENGTH, MAX_LIMIT } from '../bytes/limits';
import { LineDecoder } from '../bytes/line-decoder';
import { ConcurrentReadError, ReaderClosedError } from '../errors';
import { checkDelimiter, checkPositiveCount, checkPositiveInteger, checkPositiveLimit } from '../validate';
import { ChunkSubscription } from './chunk-subscription';
import type { Consumer, ReaderState } from './consumer';
import { EOF } from './eof';
import { pullEach, pullOne } from './pull';
import { transfer } from './transfer';
import type { Writer } from './writer';

export type { ShortRead };
export { EOF };

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
  // Flow control and the one consumer slot. Each kind of consumer keeps its own logic in its own
  // file (chunk-subscription.ts, pull.ts, transfer.ts) and reaches these through `ReaderSlot`.
  /** @internal Bytes received and not read yet: `NO_BYTES` until the first chunk has to wait. */
  queue = NO_BYTES;
  /** @internal */
  state: ReaderState = 'open';
  /** @internal */
  failure: unknown;
  /** @internal The one consumption under way: a subscription, a pull read, `lines()` or `transfer()`. */
  consumer: Consumer | null = null;
  /** @internal */
  answeredInARow = 0;
  private paused = false;
  /** The reader's user closed it: a read now is the user's bug. */
  private closedByCaller = false;
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
    return this.attach(new ChunkSubscription(this, subscriber));
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
    return pullOne(this, CHUNKS);
  }

  /**
   * The next line, as a UTF-8 string without its line ending: splits on `\n`, strips one `\r`
   * before it, and returns an unterminated last line as it is; `EOF` at end of stream.
   * @param options `max` (default 64 KiB): a longer line is a `FrameTooLongError`.
   */
  readLine(options: ReadLineOptions = {}): Observable<string | EOF> {
    return pullOne(this, new LineDecoder(maxLine('readLine', options)));
  }

  /**
   * The bytes up to the next `delimiter` (removed from the stream; kept in the result with
   * `keepDelimiter`), the bytes left at end of stream if no delimiter comes, or `EOF`.
   * @param delimiter A non-empty byte sequence or string (UTF-8).
   * @param options `keepDelimiter` (default `false`), `max` (default `Infinity`).
   */
  readUntil(delimiter: string | Uint8Array, options: ReadUntilOptions = {}): Observable<Buffer | EOF> {
    const { keepDelimiter = false, max = Number.POSITIVE_INFINITY } = options;
    const bytes = checkDelimiter('readUntil', delimiter);
    checkPositiveLimit('readUntil', 'max', max);
    return pullOne(this, new DelimiterDecoder(bytes, { keepDelimiter, maxFrameLength: max }));
  }

  /**
   * Exactly `n` bytes; at end of stream after fewer, `{ short: true, data }`; `EOF` if none came.
   * @param n A positive integer.
   */
  reallyRead(n: number): Observable<Buffer | ShortRead | EOF> {
    return pullOne(this, new ExactDecoder(checkPositiveCount('reallyRead', 'n', n)));
  }

  /** Everything until end of stream, as one Buffer (empty if nothing came). */
  contents(): Observable<Buffer> {
    return pullOne(this, new ContentsDecoder(), Buffer.alloc(0)) as Observable<Buffer>;
  }

  /**
   * Every remaining line, as UTF-8 strings (see {@link Reader.readLine}); completes at end of stream.
   * @param options `max` (default 64 KiB): a longer line is a `FrameTooLongError`.
   */
  lines(options: ReadLineOptions = {}): Observable<string> {
    const max = maxLine('lines', options);
    return pullEach(this, () => new LineDecoder(max));
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
    return transfer(this, writer, f);
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
    if (consumer instanceof ChunkSubscription && this.queue.length === 0) {
      consumer.deliver(chunk);
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

  /** @internal */
  attach(consumer: Consumer): TeardownLogic {
    const { subscriber } = consumer;
    if (this.consumer !== null) {
      subscriber.error(new ConcurrentReadError());
      return undefined;
    }
    // Closed for the caller (an idle timeout, say), a read is not the caller's bug: it gets EOF.
    if (this.state === 'closed' && this.closedByCaller) {
      subscriber.error(new ReaderClosedError());
      return undefined;
    }
    this.consumer = consumer;
    consumer.pump();
    this.regulate();
    return consumer;
  }

  /** @internal */
  release(consumer: Consumer): void {
    if (this.consumer !== consumer) return;
    this.consumer = null;
    this.regulate();
  }

  /**
   * @internal Pauses the socket while too many bytes wait unread and nobody takes them; resumes it
   * otherwise. A closed reader keeps the socket flowing so that what arrives can be discarded.
   */
  regulate(): void {
    const { consumer } = this;
    const pause =
      this.state === 'open' &&
      this.queue.length >= this.bufferSize &&
      (consumer === null || consumer.stalled === true);
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) this.input.pause();
    else this.input.resume();
  }
}

/** The `max` of `readLine`/`lines` options, checked. */
function maxLine(caller: string, options: ReadLineOptions): number {
  const { max = DEFAULT_MAX_LINE_LENGTH } = options;
  return checkPositiveInteger(caller, 'max', max, MAX_LIMIT);
}
