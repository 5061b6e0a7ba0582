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
}

/**
 * Frames ended by a delimiter, as bytes; the tail after the last delimiter is the last frame at end
 * of stream (Async's `read_until`): `readUntil` and `splitOn`.
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
    const { maxFrameLength, keepDelimiter } = this.options;
    const at = queue.indexOf(delimiter, this.searched);
    if (at === -1) {
      this.searched = Math.max(0, queue.length - delimiter.length + 1);
      // The bytes held, less a partial delimiter that may end them, are all frame.
      const atLeast = queue.length - (delimiter.length - 1);
      if (atLeast > maxFrameLength) throw new FrameTooLongError(maxFrameLength, atLeast);
      return undefined;
    }
    this.searched = 0;
    if (at > maxFrameLength) throw new FrameTooLongError(maxFrameLength, at);
    if (keepDelimiter) return queue.take(at + delimiter.length);
    const frame = queue.take(at);
    queue.skip(delimiter.length);
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

/** Everything until end of stream, as one buffer. */
export class ContentsDecoder implements FrameDecoder<Buffer> {
  decode(): undefined {
    return undefined;
  }

  finish(queue: ByteQueue): Buffer {
    return queue.takeAll();
  }
}
