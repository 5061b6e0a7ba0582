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
 * (Async's `read_line` and `read_until` semantics).
 */
export class DelimiterDecoder implements FrameDecoder<Buffer> {
  /** Position from which the next search starts: everything before it holds no delimiter. */
  private searched = 0;

  constructor(
    private readonly delimiter: Buffer,
    private readonly options: DelimiterDecoderOptions,
  ) {}

  decode(queue: ByteQueue): Buffer | undefined {
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
    if (keepDelimiter) return queue.take(at + delimiter.length);
    const frame = queue.take(end);
    queue.skip(at - end + delimiter.length);
    return frame;
  }

  finish(queue: ByteQueue): Buffer | undefined {
    this.searched = 0;
    if (queue.length === 0) return undefined;
    if (queue.length > this.options.maxFrameLength) {
      throw new FrameTooLongError(this.options.maxFrameLength, queue.length);
    }
    return queue.takeAll();
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
