import { FrameTooLongError } from '../errors';
import type { ByteQueue } from './byte-queue';
import type { FrameDecoder } from './frame-decoder';

/** The encodings in which `\n` and `\r` are single bytes that never occur inside a character. */
export type LineEncoding = 'utf8' | 'utf-8' | 'latin1' | 'binary' | 'ascii';

const LF = 0x0a;
const CR = 0x0d;
const NEWLINE = Buffer.from('\n');
const NO_LINES: string[] = [];
const NO_WORDS = new Int32Array(0);

/**
 * Lines as strings, with the semantics of {@link DelimiterDecoder} on `\n` with one `\r` stripped
 * (Async's `read_line`), specialised for the `lines()` operator: rather than cutting and decoding one
 * line at a time (a native call per line), it decodes all the whole lines a chunk brings at once and
 * slices the text (see `splitAhead`). It therefore takes every whole line off the queue at once and
 * hands them out over the next calls, so it only suits a queue it owns, not the Reader's pull reads,
 * which must leave the bytes after one line in place.
 *
 * The strings are the same as decoding each line's bytes on its own would give (invalid UTF-8
 * included), and the limit counts bytes exactly.
 */
export class LineDecoder implements FrameDecoder<string> {
  /** Position from which the next search for `\n` starts: everything before it holds none. */
  private searched = 0;
  /** Lines decoded ahead, handed out by the next calls. */
  private ready: string[] = NO_LINES;
  private readyIndex = 0;
  /** A line over the limit found among those decoded ahead, thrown once the lines before it are out. */
  private failure: FrameTooLongError | undefined;

  constructor(
    private readonly maxLineLength: number,
    private readonly encoding: LineEncoding = 'utf8',
  ) {}

  decode(queue: ByteQueue): string | undefined {
    if (this.readyIndex < this.ready.length) return this.ready[this.readyIndex++];
    this.ready = NO_LINES;
    if (this.failure !== undefined) throw this.failure;
    const max = this.maxLineLength;
    const at = queue.indexOf(NEWLINE, this.searched);
    if (at === -1) {
      this.searched = queue.length;
      // The last byte may be a `\r` that belongs to the line ending.
      if (queue.length - 1 > max) throw new FrameTooLongError(max, queue.length - 1);
      return undefined;
    }
    this.searched = 0;
    // The first line may span chunks: cut it on bytes.
    const end = at > 0 && queue.byteAt(at - 1) === CR ? at - 1 : at;
    if (end > max) throw new FrameTooLongError(max, end);
    const first = queue.take(end).toString(this.encoding);
    queue.skip(at - end + 1);
    // The whole lines after it lie in the chunk where the first one ended, and in any queued after.
    let last = -1;
    let position = 0;
    queue.forEachChunk((chunk) => {
      const j = chunk.lastIndexOf(LF);
      if (j !== -1) last = position + j;
      position += chunk.length;
    });
    if (last !== -1) this.splitAhead(queue.take(last + 1));
    return first;
  }

  finish(queue: ByteQueue): string | undefined {
    this.searched = 0;
    if (queue.length === 0) return undefined;
    // An unterminated last line is returned as is, a final `\r` included.
    if (queue.length > this.maxLineLength) throw new FrameTooLongError(this.maxLineLength, queue.length);
    return queue.takeAll().toString(this.encoding);
  }

  /** Decodes `region`, whole lines each ending in `\n`, into `ready`. */
  private splitAhead(region: Buffer): void {
    const max = this.maxLineLength;
    const utf8 = this.encoding === 'utf8' || this.encoding === 'utf-8';
    // V8 decodes UTF-8 an order of magnitude slower than Latin-1 once it meets one non-ASCII byte,
    // and a chunk of text nearly always holds one. So the region is decoded as Latin-1, which keeps
    // string offsets equal to byte offsets (making the limit exact), ASCII lines are sliced out of
    // it, and only the lines holding a non-ASCII byte are decoded again, on their own, as UTF-8.
    const text = region.toString(utf8 ? 'latin1' : this.encoding);
    const finder = utf8 ? new NonAsciiFinder(region) : undefined;
    let nonAscii = finder === undefined ? Number.POSITIVE_INFINITY : finder.next(0);
    const lines: string[] = [];
    for (let start = 0; start < text.length; ) {
      const at = text.indexOf('\n', start);
      const end = at > start && text.charCodeAt(at - 1) === CR ? at - 1 : at;
      if (end - start > max) {
        this.failure = new FrameTooLongError(max, end - start);
        break;
      }
      if (nonAscii < at) {
        lines.push(region.toString('utf8', start, end));
        nonAscii = finder!.next(at + 1);
      } else {
        lines.push(text.slice(start, end));
      }
      start = at + 1;
    }
    this.ready = lines;
    this.readyIndex = 0;
  }
}

/**
 * Finds the bytes above 0x7F of a buffer, four bytes at a time: Buffer has no search for a range of
 * values, a regular expression over the Latin-1 text is two to three times slower, and `isAscii`
 * costs a `subarray` per call.
 */
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
