import { FrameTooLongError } from '../errors';
import type { ByteQueue } from './byte-queue';
import type { FrameDecoder } from './frame-decoder';

/** The encodings in which `\n` and `\r` are single bytes that never occur inside a character. */
export type LineEncoding = 'utf8' | 'utf-8' | 'latin1' | 'binary' | 'ascii';

const LF = 0x0a;
const CR = 0x0d;
const NEWLINE = Buffer.from('\n');
const NO_LINES: string[] = [];

/**
 * Lines as strings, with the semantics of {@link DelimiterDecoder} on `\n` with one `\r` stripped
 * (Async's `read_line`), specialised for the `lines()` operator: rather than cutting and decoding one
 * line at a time, it decodes every whole line a chunk brings in one `toString` and splits the string,
 * which is several times faster on short lines. It therefore takes all whole lines off the queue at
 * once and hands them out over the next calls, so it only suits a queue it owns (not the Reader's
 * pull reads, which must leave the bytes after one line in place).
 *
 * The limit counts bytes: exactly for single-byte encodings and for ASCII text; for other UTF-8 text
 * a line may be checked from its length in UTF-16 units only when that is conclusive (a line of u
 * units holds between u and 3u bytes, malformed bytes included), otherwise its chunk is re-split on
 * bytes.
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
    const text = region.toString(this.encoding);
    const lines = text.split('\n');
    lines.pop(); // the empty string after the final `\n`
    // When as many UTF-16 units as bytes came out, every character was one byte and lengths are exact.
    const exact = text.length === region.length;
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i];
      if (line.charCodeAt(line.length - 1) === CR) lines[i] = line = line.slice(0, -1);
      if (line.length > max) {
        if (exact) {
          this.failure = new FrameTooLongError(max, line.length);
          lines.length = i;
          break;
        }
        this.splitAheadOnBytes(region);
        return;
      }
      if (!exact && line.length * 3 > max) {
        this.splitAheadOnBytes(region);
        return;
      }
    }
    this.ready = lines;
    this.readyIndex = 0;
  }

  /** The exact, slower {@link splitAhead}, for lines whose byte length their text leaves in doubt. */
  private splitAheadOnBytes(region: Buffer): void {
    const max = this.maxLineLength;
    const lines: string[] = [];
    for (let start = 0; start < region.length; ) {
      const at = region.indexOf(LF, start);
      const end = at > start && region[at - 1] === CR ? at - 1 : at;
      if (end - start > max) {
        this.failure = new FrameTooLongError(max, end - start);
        break;
      }
      lines.push(region.toString(this.encoding, start, end));
      start = at + 1;
    }
    this.ready = lines;
    this.readyIndex = 0;
  }
}
