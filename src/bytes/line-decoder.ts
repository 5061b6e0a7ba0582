import { FrameTooLongError } from '../errors';
import type { ByteQueue } from './byte-queue';
import type { FrameDecoder } from './frame-decoder';

/** The encodings in which `\n` and `\r` are single bytes that never occur inside a character. */
export type LineEncoding = 'utf8' | 'utf-8' | 'latin1' | 'binary' | 'ascii';

const LF = 0x0a;
const CR = 0x0d;
const NO_BYTES = Buffer.alloc(0);
const NO_WORDS = new Int32Array(0);

/**
 * Lines ended by `\n`, one `\r` before it stripped, as strings (Async's `read_line`): the decoder of
 * the Reader's `readLine` and `lines` and of the `lines()` operator. At end of stream an unterminated
 * last line is returned as it is. The limit counts bytes, line ending excluded, and a longer line
 * fails as soon as that many bytes and a possible `\r` are in, without waiting for its end. The
 * strings are what decoding each line's bytes on its own gives, invalid UTF-8 included.
 *
 * Each line is decoded on its own, straight from the chunk holding it, unless the decoder is made
 * to `decodeAhead`: then, from its second line on, it decodes all the whole lines held at once,
 * which costs far less per line, and slices them out one per call. That suits the `lines()`
 * operator, which owns its queue; the Reader's reads do not, since a line kept would hold the text
 * of its whole batch, and another read in between would throw the batch away.
 */
export class LineDecoder implements FrameDecoder<string> {
  /** Position from which the next search for `\n` starts: everything before it holds none. */
  private searched = 0;
  /** The queue, and its position, when `searched` was set: another read since makes it stale. */
  private searchedIn: ByteQueue | undefined;
  private searchedAt = 0;
  /** A line was cut by a decoder made to decode ahead: it does so from now on. */
  private streaming = false;
  /** The whole lines held when the decoder last decoded ahead, as Latin-1 text, and their bytes. */
  private ahead = '';
  private aheadBytes: Buffer = NO_BYTES;
  /** Where the next line to hand out starts in `ahead`. */
  private aheadFrom = 0;
  /**
   * The queue, and its position, where `ahead` starts: its lines are only good while the queue
   * still starts with the next one (a reader that was closed has dropped its bytes).
   */
  private aheadQueue: ByteQueue | undefined;
  private aheadBase = 0;
  /** Finds the lines of `ahead` that hold a byte above 0x7F; the first at or after `aheadFrom` is at `nonAscii`. */
  private finder: NonAsciiFinder | undefined;
  private nonAscii = Number.POSITIVE_INFINITY;

  constructor(
    private readonly maxLineLength: number,
    private readonly encoding: LineEncoding = 'utf8',
    /** Decode all the whole lines held at once, from the second line on. Default `false`. */
    private readonly decodeAhead = false,
  ) {}

  decode(queue: ByteQueue): string | undefined {
    if (this.aheadFrom < this.ahead.length) {
      const line =
        queue === this.aheadQueue && queue.position === this.aheadBase + this.aheadFrom
          ? this.nextAhead(queue)
          : undefined;
      if (line !== undefined) return line;
      this.dropAhead();
    }
    const max = this.maxLineLength;
    const from = queue === this.searchedIn && queue.position === this.searchedAt ? this.searched : 0;
    const at = queue.indexOf(LF, from);
    if (at === -1) {
      this.searched = queue.length;
      this.searchedIn = queue;
      this.searchedAt = queue.position;
      // The last byte may be a `\r` that belongs to the line ending.
      if (queue.length - 1 > max) throw new FrameTooLongError(max, queue.length - 1);
      return undefined;
    }
    this.searched = 0;
    const end = at > 0 && queue.byteAt(at - 1) === CR ? at - 1 : at;
    if (end > max) throw new FrameTooLongError(max, end);
    const line = queue.takeText(end, this.encoding);
    queue.skip(at - end + 1);
    if (this.streaming) this.cutAhead(queue);
    else this.streaming = this.decodeAhead;
    return line;
  }

  finish(queue: ByteQueue): string | undefined {
    this.searched = 0;
    this.dropAhead();
    if (queue.length === 0) return undefined;
    // An unterminated last line is returned as is, a final `\r` included.
    if (queue.length > this.maxLineLength) throw new FrameTooLongError(this.maxLineLength, queue.length);
    return queue.takeText(queue.length, this.encoding);
  }

  /**
   * Decodes the whole lines the queue holds into `ahead`, without removing them (`decodeAhead`).
   *
   * One native call per line is a good part of the cost of a short line, so the lines are decoded
   * together: as Latin-1, one character per byte, which keeps string offsets equal to byte offsets
   * (the limit stays exact, each line's bytes are known) and is V8's fastest decoding. ASCII lines
   * are slices of that text; a line holding a byte above 0x7F is decoded again, on its own, in its
   * encoding (UTF-8, or ASCII, which maps such a byte to another character).
   */
  private cutAhead(queue: ByteQueue): void {
    // The whole lines held end at the last `\n` of the last chunk holding one.
    let last = -1;
    let position = 0;
    queue.forEachChunk((chunk) => {
      const j = chunk.lastIndexOf(LF);
      if (j !== -1) last = position + j;
      position += chunk.length;
    });
    if (last === -1) return;
    const bytes = queue.peek(0, last + 1);
    this.ahead = bytes.toString('latin1');
    this.aheadBytes = bytes;
    this.aheadFrom = 0;
    this.aheadQueue = queue;
    this.aheadBase = queue.position;
    const sliced = this.encoding === 'latin1' || this.encoding === 'binary';
    this.finder = sliced ? undefined : new NonAsciiFinder(bytes);
    this.nonAscii = this.finder === undefined ? Number.POSITIVE_INFINITY : this.finder.next(0);
  }

  /** The next line of `ahead`, its bytes removed from `queue`; `undefined` if over the limit, left for `decode` to fail on. */
  private nextAhead(queue: ByteQueue): string | undefined {
    const { ahead, aheadFrom: start } = this;
    const at = ahead.indexOf('\n', start);
    const end = at > start && ahead.charCodeAt(at - 1) === CR ? at - 1 : at;
    if (end - start > this.maxLineLength) return undefined;
    let line: string;
    if (this.nonAscii < at) {
      line = this.aheadBytes.toString(this.encoding, start, end);
      this.nonAscii = this.finder!.next(at + 1);
    } else {
      line = ahead.slice(start, end);
    }
    queue.skip(at + 1 - start);
    this.aheadFrom = at + 1;
    // Handed out in full: the batch's text and chunk are let go, not held while the stream idles.
    if (this.aheadFrom === ahead.length) this.dropAhead();
    return line;
  }

  private dropAhead(): void {
    this.ahead = '';
    this.aheadBytes = NO_BYTES;
    this.aheadFrom = 0;
    this.aheadQueue = undefined;
    this.finder = undefined;
  }
}

/** Finds the bytes above 0x7F a word at a time: faster than a regular expression or `isAscii` per line. */
class NonAsciiFinder {
  /** The whole aligned words of `bytes`: reading them needs a 4-byte aligned offset. */
  private readonly words: Int32Array;
  /** Offset in `bytes` of `words[0]`. */
  private readonly wordsStart: number;
  private readonly wordsEnd: number;

  constructor(private readonly bytes: Buffer) {
    this.wordsStart = Math.min((4 - (bytes.byteOffset & 3)) & 3, bytes.length);
    const count = (bytes.length - this.wordsStart) >> 2;
    this.words =
      count === 0 ? NO_WORDS : new Int32Array(bytes.buffer, bytes.byteOffset + this.wordsStart, count);
    this.wordsEnd = this.wordsStart + 4 * count;
  }

  /** The offset of the first byte above 0x7F at or after `from`, or Infinity. */
  next(from: number): number {
    const { bytes, words, wordsStart, wordsEnd } = this;
    let i = from;
    // Single bytes up to the next word boundary (or to the end, past the last whole word).
    while (i < bytes.length && (i < wordsStart || i >= wordsEnd || ((i - wordsStart) & 3) !== 0)) {
      if (bytes[i] & 0x80) return i;
      i++;
    }
    for (let w = (i - wordsStart) >> 2; w < words.length; w++) {
      if ((words[w] & 0x80808080) !== 0) {
        let j = wordsStart + 4 * w;
        while (!(bytes[j] & 0x80)) j++;
        return j;
      }
    }
    for (i = Math.max(i, wordsEnd); i < bytes.length; i++) if (bytes[i] & 0x80) return i;
    return Number.POSITIVE_INFINITY;
  }
}
