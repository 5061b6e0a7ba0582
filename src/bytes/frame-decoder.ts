import { FrameTooLongError } from '../errors';
import type { ByteQueue } from './byte-queue';

/**
 * A pure framing step: it sees bytes, never a socket. The framing operators feed one per
 * subscription from their own queue; the Reader's pull reads run one against its receive queue, so
 * the bytes after a frame stay in place for whatever read comes next.
 */
export interface FrameDecoder<T> {
  /**
   * Cuts the next frame off the front of `queue`, or returns `undefined` when more bytes are
   * needed (and remembers how far it looked, so that the next call does not look again).
   * Throws a `FrameTooLongError` when the frame cannot fit its limit.
   */
  decode(queue: ByteQueue): T | undefined;
  /**
   * At end of stream, turns what remains into a last frame, or `undefined` when nothing remains.
   * Throws a `TruncatedFrameError` when the bytes left cannot be a whole frame.
   */
  finish(queue: ByteQueue): T | undefined;
}

/** Options of {@link DelimiterDecoder}. */
export interface DelimiterDecoderOptions {
  /** Keep the delimiter at the end of each frame. */
  keepDelimiter: boolean;
  /** The longest frame, delimiter excluded, in bytes. */
  maxFrameLength: number;
  /** Strip one `\r` before the delimiter, counting it as part of the line ending (for `\n` lines). */
  stripCarriageReturn: boolean;
}

const CR = 0x0d;

/**
 * Frames ended by a delimiter; the tail after the last delimiter is the last frame at end of stream
 * (Async's `read_line` and `read_until` semantics). Subclasses say how a frame's bytes are taken.
 */
abstract class Delimited<T> implements FrameDecoder<T> {
  /** Position from which the next search starts: everything before it holds no delimiter. */
  private searched = 0;

  constructor(
    private readonly delimiter: Buffer,
    private readonly options: DelimiterDecoderOptions,
  ) {}

  /** Removes the first `n` bytes of `queue` as a frame. */
  protected abstract cut(queue: ByteQueue, n: number): T;

  decode(queue: ByteQueue): T | undefined {
    const { delimiter } = this;
    const { maxFrameLength, stripCarriageReturn, keepDelimiter } = this.options;
    const at = queue.indexOf(delimiter, this.searched);
    if (at === -1) {
      this.searched = Math.max(0, queue.length - delimiter.length + 1);
      // The bytes held, less a partial delimiter (and a `\r`) that may end them, are all frame.
      const atLeast = queue.length - (delimiter.length - 1) - (stripCarriageReturn ? 1 : 0);
      if (atLeast > maxFrameLength) throw new FrameTooLongError(maxFrameLength, atLeast);
      return undefined;
    }
    this.searched = 0;
    let end = at;
    if (stripCarriageReturn && at > 0 && queue.byteAt(at - 1) === CR) end--;
    if (end > maxFrameLength) throw new FrameTooLongError(maxFrameLength, end);
    if (keepDelimiter) return this.cut(queue, at + delimiter.length);
    const frame = this.cut(queue, end);
    queue.skip(at - end + delimiter.length);
    return frame;
  }

  finish(queue: ByteQueue): T | undefined {
    this.searched = 0;
    if (queue.length === 0) return undefined;
    if (queue.length > this.options.maxFrameLength) {
      throw new FrameTooLongError(this.options.maxFrameLength, queue.length);
    }
    return this.cut(queue, queue.length);
  }
}

/** Frames ended by a delimiter, as bytes (`readUntil`, `splitOn`). */
export class DelimiterDecoder extends Delimited<Buffer> {
  protected cut(queue: ByteQueue, n: number): Buffer {
    return queue.take(n);
  }
}

const NEWLINE = Buffer.from('\n');

/**
 * Lines ended by `\n` (one `\r` before it stripped) as UTF-8 strings, for the Reader's `readLine`
 * and `lines`: each line is decoded straight from the chunk holding it, with no Buffer made for
 * it, which is a good part of the cost of a short line.
 */
export class Utf8LineDecoder extends Delimited<string> {
  /** @param maxLineLength The longest line, in bytes without its line ending. */
  constructor(maxLineLength: number) {
    super(NEWLINE, { keepDelimiter: false, maxFrameLength: maxLineLength, stripCarriageReturn: true });
  }

  protected cut(queue: ByteQueue, n: number): string {
    return queue.takeUtf8(n);
  }
}

/** What `reallyRead(n)` gives at end of stream when fewer than n bytes came. */
export interface ShortRead {
  /** Always `true`: fewer bytes than asked for came before the end of the stream. */
  short: true;
  /** The bytes that did come. */
  data: Buffer;
}

/** Exactly `n` bytes; at end of stream, what came (Async's `really_read`). */
export class ExactDecoder implements FrameDecoder<Buffer | ShortRead> {
  constructor(private readonly n: number) {}

  decode(queue: ByteQueue): Buffer | undefined {
    return queue.length >= this.n ? queue.take(this.n) : undefined;
  }

  finish(queue: ByteQueue): Buffer | ShortRead | undefined {
    if (queue.length === 0) return undefined;
    if (queue.length >= this.n) return queue.take(this.n);
    return { short: true, data: queue.takeAll() };
  }
}

/** Everything until end of stream, as one buffer. */
export class ContentsDecoder implements FrameDecoder<Buffer> {
  decode(): undefined {
    return undefined;
  }

  finish(queue: ByteQueue): Buffer {
    return queue.takeAll();
  }
}
