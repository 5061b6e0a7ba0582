import type { OperatorFunction } from 'rxjs';
import { DEFAULT_MAX_LINE_LENGTH, MAX_LIMIT } from '../bytes/limits';
import { LineDecoder, type LineEncoding } from '../bytes/line-decoder';
import { checkOneOf, checkPositiveInteger } from '../validate';
import { decodeWith } from './decode-with';

/** Options of {@link lines}. */
export interface LinesOptions {
  /**
   * The longest line accepted, in bytes, the line ending (`\n` or `\r\n`) excluded. A longer line
   * fails the stream with a `FrameTooLongError` as soon as `maxLineLength + 2` of its bytes are in
   * (the last of `maxLineLength + 1` may be the `\r` of a `\r\n`), so a line never holds more memory
   * than that and the chunk being decoded. Default: `65536` (64 KiB).
   */
  maxLineLength?: number;
  /**
   * How the bytes of a line are decoded, and how string chunks are encoded. Only encodings in which
   * `\n` is one byte that never occurs inside a character are accepted. Default: `'utf8'`.
   */
  encoding?: LineEncoding;
}

const ENCODINGS: readonly LineEncoding[] = ['utf8', 'utf-8', 'latin1', 'binary', 'ascii'];

/**
 * Splits a byte stream into lines of text, whatever the chunking.
 *
 * Lines end with `\n`; one `\r` right before it is stripped too, and the line is emitted without its
 * ending. At completion an unterminated last line is emitted as it is (Async's `Reader.read_line`):
 * `'a\r\nb'` gives `'a'` then `'b'`. Each line is decoded as a whole, so a multi-byte character cut
 * between two chunks comes out intact. Chunks may be bytes or strings (encoded with `encoding`).
 *
 * Memory is bounded: a line longer than `maxLineLength` bytes is a `FrameTooLongError` (carrying the
 * limit and the bytes seen) instead of an ever-growing buffer. An error of the source is passed on,
 * and a partial line is then dropped.
 *
 * ```ts
 * import { from } from 'rxjs';
 * import { lines } from 'rx-tcp/operators';
 *
 * from([Buffer.from('GET / HTTP/1.1\r\nHost: ex'), Buffer.from('ample.com\r\n\r\n')])
 *   .pipe(lines({ maxLineLength: 8192 }))
 *   .subscribe((line) => console.log(JSON.stringify(line)));
 * // "GET / HTTP/1.1"
 * // "Host: example.com"
 * // ""
 * ```
 *
 * @param options.maxLineLength The longest line, in bytes, ending excluded. Default: `65536`.
 * @param options.encoding The text encoding, `'utf8'`, `'latin1'` or `'ascii'`. Default: `'utf8'`.
 * @return A function that returns an Observable of the lines of the source's bytes.
 */
export function lines(options: LinesOptions = {}): OperatorFunction<Uint8Array | string, string> {
  const { maxLineLength = DEFAULT_MAX_LINE_LENGTH, encoding = 'utf8' } = options;
  checkPositiveInteger('lines', 'maxLineLength', maxLineLength, MAX_LIMIT);
  checkOneOf('lines', 'encoding', encoding, ENCODINGS);
  return decodeWith(() => new LineDecoder(maxLineLength, encoding, true), encoding);
}
