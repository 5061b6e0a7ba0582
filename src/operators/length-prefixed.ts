import type { OperatorFunction } from 'rxjs';
import { DEFAULT_MAX_FRAME_LENGTH, MAX_LIMIT } from '../bytes/limits';
import { FrameTooLongError, TruncatedFrameError } from '../errors';
import { checkOneOf, checkPositiveInteger } from '../validate';
import { decodeSteps } from './decode';
import type { DecodeCursor } from './decode-cursor';

/** Options of {@link lengthPrefixed}, and of its encoder {@link encodeLengthPrefixed}. */
export interface LengthPrefixedOptions {
  /** Size of the length header, in bytes: `1`, `2` or `4`. Default: `4`. */
  headerBytes?: 1 | 2 | 4;
  /** Byte order of the length header. Default: `'big'` (network order). */
  endian?: 'big' | 'little';
  /**
   * The longest payload accepted, in bytes, the header excluded. A header announcing more is a
   * `FrameTooLongError` at once, before any of the payload is buffered. Default: `16777216` (16 MiB).
   */
  maxFrameLength?: number;
}

/**
 * Splits a byte stream into length-prefixed frames, whatever the chunking.
 *
 * Each frame on the wire is an unsigned integer of `headerBytes` bytes in `endian` order, giving the
 * length of the payload that follows (the header not counted); the operator emits each payload as a
 * `Buffer`. {@link encodeLengthPrefixed} with the same options produces this format.
 *
 * The announced length is checked as soon as the header is in: one above `maxFrameLength` (a 4 GiB
 * prefix, say) fails the stream with a `FrameTooLongError` carrying the limit and the announced
 * length, so memory never exceeds one allowed frame. A stream completing inside a frame, header
 * included, fails with a `TruncatedFrameError` carrying the bytes of the partial frame (header
 * included) and, once the header is in, the length of the whole frame.
 *
 * ```ts
 * import { from } from 'rxjs';
 * import { lengthPrefixed } from 'rx-tcp/operators';
 *
 * from([Uint8Array.of(0, 2, 0x68), Uint8Array.of(0x69, 0, 0)])
 *   .pipe(lengthPrefixed({ headerBytes: 2, maxFrameLength: 1024 }))
 *   .subscribe((frame) => console.log(JSON.stringify(frame.toString())));
 * // "hi"
 * // ""
 * ```
 *
 * @param options.headerBytes Size of the length header: `1`, `2` or `4`. Default: `4`.
 * @param options.endian Byte order of the header, `'big'` or `'little'`. Default: `'big'`.
 * @param options.maxFrameLength The longest payload, in bytes. Default: `16777216`.
 * @return A function that returns an Observable of the payloads of the source's frames.
 */
export function lengthPrefixed(options: LengthPrefixedOptions = {}): OperatorFunction<Uint8Array, Buffer> {
  const { headerBytes = 4, endian = 'big', maxFrameLength = DEFAULT_MAX_FRAME_LENGTH } = options;
  checkOneOf('lengthPrefixed', 'headerBytes', headerBytes, [1, 2, 4]);
  checkOneOf('lengthPrefixed', 'endian', endian, ['big', 'little']);
  checkPositiveInteger('lengthPrefixed', 'maxFrameLength', maxFrameLength, MAX_LIMIT);
  const createStep = () => {
    /** The payload length of the frame at the cursor, once its header was read; -1 before. */
    let length = -1;
    return (cursor: DecodeCursor): Buffer | undefined => {
      const available = cursor.length;
      if (length === -1) {
        if (available < headerBytes) {
          if (cursor.ended) throw new TruncatedFrameError(cursor.read(available)!);
          return undefined;
        }
        let announced = 0;
        for (let i = 0; i < headerBytes; i++) {
          announced = announced * 256 + cursor.byteAt(endian === 'big' ? i : headerBytes - 1 - i);
        }
        // Checked before any of the payload is buffered.
        if (announced > maxFrameLength) throw new FrameTooLongError(maxFrameLength, announced);
        length = announced;
      }
      if (available - headerBytes < length) {
        if (cursor.ended) throw new TruncatedFrameError(cursor.read(available)!, headerBytes + length);
        return undefined;
      }
      cursor.skip(headerBytes);
      const payload = cursor.read(length);
      length = -1;
      return payload;
    };
  };
  // A frame's length is checked as soon as its header is in, so no more than one frame ever waits.
  return decodeSteps(createStep, Number.POSITIVE_INFINITY, 'utf8');
}
