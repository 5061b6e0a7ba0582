import { Observable, type Observer, type OperatorFunction, type Subscriber, Subscription } from 'rxjs';
import { ByteQueue } from '../bytes/byte-queue';
import { MAX_LIMIT } from '../bytes/limits';
import { FrameTooLongError, TruncatedFrameError } from '../errors';
import { checkNumber, checkOneOf, checkPositiveInteger, describe } from '../validate';
import { chunkBytes, notAChunk } from './decode-with';

/** Options of {@link decode}. */
export interface DecodeOptions {
  /**
   * The most bytes that may wait for a frame to complete; beyond it the stream fails with a
   * `FrameTooLongError`. Default: `1048576` (1 MiB).
   */
  maxBuffered?: number;
  /**
   * How string chunks are encoded: `'utf8'`, `'latin1'`, `'ascii'` or `'utf16le'` (and their
   * aliases). Not `'hex'` or `'base64'`, in which one byte can be cut between two chunks.
   * Default: `'utf8'`.
   */
  encoding?: BufferEncoding;
}

/**
 * What a {@link DecodeStep} sees: the bytes buffered, from the end of the last frame on, read
 * through a position that each read moves forward. Every position and index is relative to that
 * position. The cursor is only usable while its step runs; using it afterwards throws.
 */
export interface DecodeCursor {
  /** Bytes available to this step, from the cursor's position (what earlier reads of this step consumed is gone). */
  readonly length: number;
  /** True once the source completed: no more bytes will come (the last calls of step). */
  readonly ended: boolean;
  /** The byte at `index` (relative to the position), or -1 past the end. */
  byteAt(index: number): number;
  /**
   * Position (relative) of `search` (a byte value, a string (UTF-8) or bytes) at or after `from`
   * (default 0), or -1. A match cut between chunks is found too.
   */
  indexOf(search: number | string | Uint8Array, from?: number): number;
  /** The next n bytes without consuming them, or undefined when fewer than n are buffered. */
  peek(n: number): Buffer | undefined;
  /**
   * Consumes and returns the next n bytes, or undefined (consuming nothing) when fewer are buffered.
   * A view of the chunk when they lie in one chunk, else one copy.
   */
  read(n: number): Buffer | undefined;
  /** Consumes n bytes; false (consuming nothing) when fewer are buffered. */
  skip(n: number): boolean;
  /**
   * Consumes and returns the next line as a string (split on \n, one \r before it stripped;
   * encoding default utf8), or undefined (consuming nothing) when no \n is buffered.
   */
  readLine(encoding?: BufferEncoding): string | undefined;
  /** Like readLine, but without consuming. */
  peekLine(encoding?: BufferEncoding): string | undefined;
}

/** Returns a frame, or undefined to wait for more bytes. */
export type DecodeStep<T> = (cursor: DecodeCursor) => T | undefined;

const DEFAULT_MAX_BUFFERED = 1024 * 1024;
const ENCODINGS: readonly BufferEncoding[] = [
  'utf8',
  'utf-8',
  'ascii',
  'latin1',
  'binary',
  'utf16le',
  'utf-16le',
  'ucs2',
  'ucs-2',
];
const LF = 0x0a;
const CR = 0x0d;
const NO_BYTES = Buffer.alloc(0);

/**
 * Decodes a stateful protocol (RESP, memcached, HTTP/1, STOMP…) from a byte stream: `step` reads
 * one frame at a time through a cursor over the bytes buffered.
 *
 * Async's `Reader.read_one_chunk_at_a_time`, Netty's `ByteToMessageDecoder`. Each subscription
 * has its own buffer; chunks are queued without copying. After each chunk, `step(cursor)` is
 * called as long as bytes are buffered and it returns frames, and each frame is emitted. `step`
 * returns `undefined` to wait for more bytes, and that call is then undone: everything it read is
 * put back, so a step may read a header, find the body incomplete and return `undefined`, and be
 * called again from the header once more bytes came. What a step returning a frame read is
 * consumed. Frames can therefore never be `undefined` (`null` can be one); a step returning a
 * frame without consuming any byte would be called for ever, and is a `TypeError` notification.
 *
 * Each call starts again from the end of the last frame, so a step reads its frame's header again
 * each time more bytes come; `readLine` and `peekLine` remember how far they searched for `\n`, so
 * a line arriving in many small chunks still costs linear time. Bytes read that lie inside one
 * chunk are views of it, not copies, so they stay valid after the step returns; a producer must
 * not overwrite a chunk after emitting it (sockets never do).
 *
 * When the source completes, `step` is called again with `cursor.ended` true as long as bytes
 * remain and it returns frames (for a tail that only the end of the stream terminates); bytes left
 * after that are a `TruncatedFrameError` carrying them. More than `maxBuffered` bytes left waiting
 * after a chunk's frames fail the stream with a `FrameTooLongError` (carrying the limit and the
 * bytes buffered), so memory stays bounded whatever the peer sends; a chunk holding many complete
 * frames is fine. A throw from `step` is the error notification, never an unhandled error. On
 * every error, an error of the source included, the bytes buffered are dropped.
 *
 * ```ts
 * import { from } from 'rxjs';
 * import { decode } from 'rx-tcp/operators';
 *
 * // RESP bulk strings: `$<length>\r\n<bytes>\r\n`, cut anywhere by the network.
 * const bulkStrings = decode((cursor) => {
 *   const header = cursor.readLine();
 *   if (header === undefined) return undefined;
 *   if (!header.startsWith('$')) throw new Error(`not a bulk string: ${header}`);
 *   const body = cursor.read(Number(header.slice(1)));
 *   // Without the body and its \r\n, the header read above is put back too.
 *   if (body === undefined || !cursor.skip(2)) return undefined;
 *   return body.toString();
 * });
 *
 * from(['$5\r\nhel', 'lo\r\n$0\r\n', '\r\n'])
 *   .pipe(bulkStrings)
 *   .subscribe((value) => console.log(JSON.stringify(value)));
 * // "hello"
 * // ""
 * ```
 *
 * @param step Reads one frame through the cursor and returns it, or returns `undefined` to wait
 * for more bytes. The cursor is only usable during the call.
 * @param options.maxBuffered The most bytes left waiting for a frame to complete. Default: `1048576`.
 * @param options.encoding How string chunks are encoded. Default: `'utf8'`.
 * @return A function that returns an Observable of the frames `step` returns.
 */
export function decode<T>(
  step: DecodeStep<T>,
  options: DecodeOptions = {},
): OperatorFunction<Uint8Array | string, T> {
  if (typeof step !== 'function')
    throw new TypeError(`decode: step must be a function, got ${describe(step)}`);
  const { maxBuffered = DEFAULT_MAX_BUFFERED, encoding = 'utf8' } = options;
  checkPositiveInteger('decode', 'maxBuffered', maxBuffered, MAX_LIMIT);
  checkOneOf('decode', 'encoding', encoding, ENCODINGS);
  return decodeSteps(() => step, maxBuffered, encoding);
}

/**
 * {@link decode} without its checks, for the framing operators built on it: `createStep` gives each
 * subscription its own step (which may then keep state across calls, such as where a search
 * stopped), and `maxBuffered` may be `Infinity` for a step that bounds memory itself.
 */
export function decodeSteps<T>(
  createStep: () => DecodeStep<T>,
  maxBuffered: number,
  encoding: BufferEncoding,
): OperatorFunction<Uint8Array | string, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const decoder = new DecodeSubscriber(subscriber, createStep(), maxBuffered, encoding);
      // Added before subscribing: a synchronous source sees `closed` as soon as the consumer leaves.
      subscriber.add(decoder);
      source.subscribe(decoder);
    });
}

/**
 * One subscription of {@link decodeSteps}: the source's subscriber, holding the queue, the cursor
 * and the step. One object, not closures around a wrapped observer, for memory: a server holds one
 * per connection.
 *
 * Being both an Observer and a `Subscription` makes it a subscriber in RxJS's eyes: `subscribe`
 * uses it as it is, rather than wrapping it in a `SafeSubscriber`. So it keeps a subscriber's
 * contract itself: nothing is handled after `error`, `complete` or `unsubscribe`. It is one of its
 * consumer's finalizers, so it is closed with the consumer (after an error, or once `take(n)` has
 * enough), and a synchronous source checking `closed` stops then.
 */
class DecodeSubscriber<T> extends Subscription implements Observer<Uint8Array | string> {
  private readonly queue = new ByteQueue();
  private readonly cursor = new Cursor(this.queue);
  /** The source completed. */
  private ended = false;
  /** A drain is under way: a chunk or the completion arriving meanwhile is left to it. */
  private draining = false;
  /** Bytes or the completion arrived during a step (only a step that made its own source emit sees that). */
  private arrived = false;

  constructor(
    private readonly consumer: Subscriber<T>,
    private readonly step: DecodeStep<T>,
    private readonly maxBuffered: number,
    private readonly encoding: BufferEncoding,
  ) {
    super();
  }

  next(chunk: Uint8Array | string): void {
    if (this.closed || this.ended) return;
    const bytes = chunkBytes(chunk, this.encoding);
    if (bytes === undefined) {
      this.fail(notAChunk(chunk));
      return;
    }
    this.queue.push(bytes);
    if (this.draining) this.arrived = true;
    else this.drain();
  }

  error(error: unknown): void {
    if (this.closed || this.ended) return;
    this.fail(error);
  }

  complete(): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    if (this.draining) this.arrived = true;
    else this.drain();
  }

  /** Drops the bytes buffered and unsubscribes from the source. */
  override unsubscribe(): void {
    this.cursor.drop();
    super.unsubscribe();
  }

  /** Calls the step as long as bytes are buffered and it returns frames, and emits each frame. */
  private drain(): void {
    const { queue, cursor, consumer } = this;
    this.draining = true;
    while (queue.length > 0) {
      this.arrived = false;
      let frame: T | undefined;
      try {
        frame = cursor.call(this.step, this.ended);
      } catch (error) {
        this.fail(error);
        return;
      }
      // Closed with the consumer (a step may unsubscribe it, a consumer such as take(n) too, during
      // next): nothing more is emitted, and this drain is never resumed.
      if (this.closed) return;
      if (frame === undefined) {
        if (this.arrived) continue;
        break;
      }
      if (!cursor.commit()) {
        this.fail(
          new TypeError(
            'decode: step returned a frame without consuming any byte, so it would be called for ever on the same bytes',
          ),
        );
        return;
      }
      consumer.next(frame);
      if (this.closed) return;
    }
    this.draining = false;
    if (this.ended) {
      if (queue.length > 0) this.fail(new TruncatedFrameError(queue.takeAll()));
      else consumer.complete();
    } else if (queue.length > this.maxBuffered) {
      this.fail(new FrameTooLongError(this.maxBuffered, queue.length));
    }
  }

  /** Drops the bytes buffered and errors the consumer, which then unsubscribes this. */
  private fail(error: unknown): void {
    this.cursor.drop();
    this.consumer.error(error);
  }
}

/**
 * The one cursor of a subscription, reused by every step call: a position over the queue, which
 * only a frame's commit removes bytes from, so undoing a step is resetting the position.
 */
class Cursor implements DecodeCursor {
  /** Bytes the running step consumed, from the queue's head. */
  private position = 0;
  /** A step is running: the only time the cursor may be used. */
  private live = false;
  private atEnd = false;
  /** Bytes committed so far: a queue position plus this is an absolute stream position. */
  private committed = 0;
  /**
   * The last search for `\n`, in absolute positions, so that the lines of a step (and a line still
   * arriving, across steps) are not searched again: the first `\n` at or after `lineFrom` is at
   * `lineAt`, or, when `lineAt` is -1, there is none before `lineTo`.
   */
  private lineFrom = 0;
  private lineAt = -1;
  private lineTo = 0;
  /** The last string searched for, and its bytes: a step searches for the same few delimiters. */
  private lastSearch = '';
  private lastNeedle: Buffer = NO_BYTES;

  constructor(private readonly queue: ByteQueue) {}

  get length(): number {
    this.check();
    return this.queue.length - this.position;
  }

  get ended(): boolean {
    this.check();
    return this.atEnd;
  }

  byteAt(index: number): number {
    this.check();
    if (!(Number.isInteger(index) && index >= 0)) checkNumber('DecodeCursor.byteAt', 'index', index, 0, true);
    const at = this.position + index;
    return at < this.queue.length ? this.queue.byteAt(at) : -1;
  }

  indexOf(search: number | string | Uint8Array, from = 0): number {
    this.check();
    if (!(Number.isInteger(from) && from >= 0)) checkNumber('DecodeCursor.indexOf', 'from', from, 0, true);
    let needle: Uint8Array | number;
    if (typeof search === 'string') {
      if (search !== this.lastSearch) {
        this.lastNeedle = Buffer.from(search, 'utf8');
        this.lastSearch = search;
      }
      needle = this.lastNeedle;
    } else if (typeof search === 'number') {
      if (!(Number.isInteger(search) && search >= 0 && search <= 255)) {
        throw new RangeError(`DecodeCursor.indexOf: a byte must be an integer from 0 to 255, got ${search}`);
      }
      needle = search;
    } else if (search instanceof Uint8Array) {
      needle = search;
    } else {
      throw new TypeError(
        `DecodeCursor.indexOf: search must be a byte, a string or a Uint8Array, got ${describe(search)}`,
      );
    }
    const at = this.queue.indexOf(needle, this.position + from);
    return at === -1 ? -1 : at - this.position;
  }

  peek(n: number): Buffer | undefined {
    this.check();
    if (!(Number.isInteger(n) && n >= 0)) checkNumber('DecodeCursor.peek', 'n', n, 0, true);
    return n <= this.queue.length - this.position ? this.queue.peek(this.position, n) : undefined;
  }

  read(n: number): Buffer | undefined {
    this.check();
    if (!(Number.isInteger(n) && n >= 0)) checkNumber('DecodeCursor.read', 'n', n, 0, true);
    if (n > this.queue.length - this.position) return undefined;
    const bytes = this.queue.peek(this.position, n);
    this.position += n;
    return bytes;
  }

  skip(n: number): boolean {
    this.check();
    if (!(Number.isInteger(n) && n >= 0)) checkNumber('DecodeCursor.skip', 'n', n, 0, true);
    if (n > this.queue.length - this.position) return false;
    this.position += n;
    return true;
  }

  readLine(encoding: BufferEncoding = 'utf8'): string | undefined {
    this.check();
    const lf = this.newline();
    if (lf === -1) return undefined;
    const line = this.line(lf, encoding);
    this.position = lf + 1;
    return line;
  }

  peekLine(encoding: BufferEncoding = 'utf8'): string | undefined {
    this.check();
    const lf = this.newline();
    return lf === -1 ? undefined : this.line(lf, encoding);
  }

  /** Calls `step` once; when it returns `undefined`, what it read is put back. */
  call<T>(step: DecodeStep<T>, ended: boolean): T | undefined {
    this.atEnd = ended;
    this.live = true;
    // No try/finally here, which would cost every call: a step that throws is followed by drop().
    const frame = step(this);
    this.live = false;
    if (frame === undefined) this.position = 0;
    return frame;
  }

  /** Removes what the step read from the queue; false when it read nothing. */
  commit(): boolean {
    const consumed = this.position;
    if (consumed === 0) return false;
    this.queue.skip(consumed);
    this.committed += consumed;
    this.position = 0;
    return true;
  }

  /** Drops every byte buffered and closes the cursor, also under a step still running. */
  drop(): void {
    this.live = false;
    this.committed += this.queue.length;
    this.queue.clear();
    this.position = 0;
  }

  private check(): void {
    if (!this.live) {
      throw new Error(
        'decode: a DecodeCursor was used after its step returned; read everything a frame needs during the step',
      );
    }
  }

  /** The queue position of the first `\n` at or after the cursor's position, or -1. */
  private newline(): number {
    const { committed, position } = this;
    const here = committed + position;
    let from = here;
    if (this.lineFrom <= here) {
      if (this.lineAt >= here) return this.lineAt - committed;
      if (this.lineAt === -1 && this.lineTo > here) from = this.lineTo;
    }
    const at = this.queue.indexOf(LF, from - committed);
    this.lineFrom = here;
    this.lineAt = at === -1 ? -1 : at + committed;
    this.lineTo = committed + this.queue.length;
    return at;
  }

  /** The text from the position to the `\n` at `lf`, a `\r` before it left out. */
  private line(lf: number, encoding: BufferEncoding): string {
    const end = lf > this.position && this.queue.byteAt(lf - 1) === CR ? lf - 1 : lf;
    return this.queue.text(this.position, end, encoding);
  }
}
