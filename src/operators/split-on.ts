import type { OperatorFunction } from 'rxjs';
import { DelimiterDecoder } from '../bytes/frame-decoder';
import { DEFAULT_MAX_FRAME_LENGTH, MAX_LIMIT } from '../bytes/limits';
import { checkBoolean, checkDelimiter, checkPositiveInteger } from '../validate';
import { decodeWith } from './decode-with';

/** Options of {@link splitOn}. */
export interface SplitOnOptions {
  /**
   * The longest frame accepted, in bytes, the delimiter excluded. A longer frame fails the stream
   * with a `FrameTooLongError` once `maxFrameLength + delimiter.length` of its bytes are in.
   * Default: `16777216` (16 MiB).
   */
  maxFrameLength?: number;
  /** End each frame with its delimiter. Default: `false`. */
  keepDelimiter?: boolean;
}

/**
 * Splits a byte stream into the frames between occurrences of a delimiter, whatever the chunking.
 *
 * The delimiter may be any non-empty sequence of bytes (a string is taken as UTF-8), and is found
 * even when it is cut between chunks. Frames are emitted as `Buffer`s, without the delimiter unless
 * `keepDelimiter`; at completion, bytes after the last delimiter are emitted as a last frame (as
 * `lines` does with an unterminated line, and Async's `read_until`). Two delimiters in a row give an
 * empty frame. A search that ends without a match resumes where it stopped when more bytes come, so
 * a frame spread over many chunks costs time linear in its size.
 *
 * A frame longer than `maxFrameLength` is a `FrameTooLongError`; memory stays bounded whatever the
 * peer sends. Frames lying inside one chunk are views of it, not copies.
 *
 * ```ts
 * import { from } from 'rxjs';
 * import { splitOn } from 'rx-tcp/operators';
 *
 * from([Buffer.from('one\0tw'), Buffer.from('o\0three')])
 *   .pipe(splitOn('\0', { maxFrameLength: 1024 }))
 *   .subscribe((frame) => console.log(frame.toString()));
 * // one
 * // two
 * // three
 * ```
 *
 * @param delimiter The bytes that end each frame, as a `Uint8Array` or a UTF-8 string; not empty.
 * @param options.maxFrameLength The longest frame, in bytes, delimiter excluded. Default: `16777216`.
 * @param options.keepDelimiter Keep the delimiter at the end of each frame. Default: `false`.
 * @return A function that returns an Observable of the frames of the source's bytes.
 */
export function splitOn(
  delimiter: string | Uint8Array,
  options: SplitOnOptions = {},
): OperatorFunction<Uint8Array | string, Buffer> {
  const { maxFrameLength = DEFAULT_MAX_FRAME_LENGTH, keepDelimiter = false } = options;
  const bytes = checkDelimiter('splitOn', delimiter);
  checkPositiveInteger('splitOn', 'maxFrameLength', maxFrameLength, MAX_LIMIT);
  checkBoolean('splitOn', 'keepDelimiter', keepDelimiter);
  return decodeWith(() => new DelimiterDecoder(bytes, { maxFrameLength, keepDelimiter }));
}
