import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';
import { BareSubscriber } from '../bare-subscriber';
import { ByteQueue } from '../bytes/byte-queue';
import { MAX_LIMIT } from '../bytes/limits';
import { FrameTooLongError, TruncatedFrameError } from '../errors';
import { checkOneOf, checkPositiveInteger, describe } from '../validate';
import { Cursor, type DecodeStep } from './decode-cursor';
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
 * per connection. A {@link BareSubscriber}, so it keeps a subscriber's contract itself. It is one of
 * its consumer's finalizers, so it is closed with the consumer (after an error, or once `take(n)`
 * has enough), and a synchronous source checking `closed` stops then.
 */
class DecodeSubscriber<T> extends BareSubscriber<Uint8Array | string> {
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
