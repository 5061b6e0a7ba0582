import { map, type OperatorFunction } from 'rxjs';
import { DEFAULT_MAX_FRAME_LENGTH, MAX_LIMIT } from '../bytes/limits';
import { FrameTooLongError } from '../errors';
import { checkOneOf, checkPositiveInteger } from '../validate';
import type { LengthPrefixedOptions } from './length-prefixed';

/**
 * Options of {@link encodeLengthPrefixed}: the same as {@link LengthPrefixedOptions}, so that one
 * object configures both ends. Defaults: `headerBytes: 4`, `endian: 'big'`, `maxFrameLength: 16777216`.
 */
export type EncodeLengthPrefixedOptions = LengthPrefixedOptions;

/**
 * Encodes frames in the format {@link lengthPrefixed} decodes: each payload preceded by its length.
 *
 * Called with options only, it returns an operator from payloads to encoded frames, one `Buffer`
 * (header and payload) per payload. Called with a payload first, it encodes that one frame and
 * returns the `Buffer` at once, for code that writes frames one by one. Payloads may be bytes or
 * strings (encoded as UTF-8).
 *
 * A payload longer than `maxFrameLength`, or than the header can express (255 bytes for a 1-byte
 * header, 65535 for 2 bytes), is a `FrameTooLongError`: thrown by the one-frame form, the error
 * notification of the operator. The encoder refuses what the decoder with the same options would.
 *
 * ```ts
 * import { of } from 'rxjs';
 * import { encodeLengthPrefixed, lengthPrefixed } from 'rx-tcp/operators';
 *
 * const options = { headerBytes: 2 } as const;
 * of('hello', 'world')
 *   .pipe(encodeLengthPrefixed(options), lengthPrefixed(options))
 *   .subscribe((frame) => console.log(frame.toString()));
 * // hello
 * // world
 *
 * console.log(encodeLengthPrefixed(Uint8Array.of(7, 8), options));
 * // <Buffer 00 02 07 08>
 * ```
 *
 * @param options.headerBytes Size of the length header: `1`, `2` or `4`. Default: `4`.
 * @param options.endian Byte order of the header, `'big'` or `'little'`. Default: `'big'`.
 * @param options.maxFrameLength The longest payload, in bytes. Default: `16777216`.
 * @return An operator from payloads to encoded frames.
 */
export function encodeLengthPrefixed(
  options?: EncodeLengthPrefixedOptions,
): OperatorFunction<Uint8Array | string, Buffer>;
/**
 * Encodes one frame at once: its length header, then the payload.
 *
 * ```ts
 * import { encodeLengthPrefixed } from 'rx-tcp/operators';
 *
 * console.log(encodeLengthPrefixed('hi', { headerBytes: 1 })); // <Buffer 02 68 69>
 * ```
 *
 * @param frame The payload to encode, bytes or a string (UTF-8).
 * @param options As for the operator form. Default: 4-byte big-endian header, 16 MiB limit.
 * @return The encoded frame.
 */
export function encodeLengthPrefixed(
  frame: Uint8Array | string,
  options?: EncodeLengthPrefixedOptions,
): Buffer;
export function encodeLengthPrefixed(
  frameOrOptions?: Uint8Array | string | EncodeLengthPrefixedOptions,
  maybeOptions?: EncodeLengthPrefixedOptions,
): OperatorFunction<Uint8Array | string, Buffer> | Buffer {
  const oneFrame = typeof frameOrOptions === 'string' || frameOrOptions instanceof Uint8Array;
  const options = (oneFrame ? maybeOptions : frameOrOptions) ?? {};
  const encode = createEncoder(options);
  if (oneFrame) return encode(frameOrOptions);
  return (source) => source.pipe(map(encode));
}

function createEncoder(options: EncodeLengthPrefixedOptions): (frame: Uint8Array | string) => Buffer {
  const { headerBytes = 4, endian = 'big', maxFrameLength = DEFAULT_MAX_FRAME_LENGTH } = options;
  checkOneOf('encodeLengthPrefixed', 'headerBytes', headerBytes, [1, 2, 4]);
  checkOneOf('encodeLengthPrefixed', 'endian', endian, ['big', 'little']);
  checkPositiveInteger('encodeLengthPrefixed', 'maxFrameLength', maxFrameLength, MAX_LIMIT);
  const limit = Math.min(maxFrameLength, 2 ** (8 * headerBytes) - 1);
  return (frame) => {
    const length = typeof frame === 'string' ? Buffer.byteLength(frame, 'utf8') : frame.byteLength;
    if (length > limit) throw new FrameTooLongError(limit, length);
    const out = Buffer.allocUnsafe(headerBytes + length);
    if (endian === 'big') out.writeUIntBE(length, 0, headerBytes);
    else out.writeUIntLE(length, 0, headerBytes);
    if (typeof frame === 'string') out.write(frame, headerBytes, 'utf8');
    else out.set(frame, headerBytes);
    return out;
  };
}
