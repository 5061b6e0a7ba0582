import type { OperatorFunction } from 'rxjs';
import { FixedSizeDecoder } from '../bytes/fixed-size-decoder';
import { MAX_LIMIT } from '../bytes/limits';
import { checkPositiveInteger } from '../validate';
import { decodeWith } from './decode-with';

/**
 * Cuts a byte stream into frames of exactly `size` bytes, whatever the chunking.
 *
 * Each frame is a `Buffer` of `size` bytes: a view of the chunk when it lies inside one, otherwise a
 * copy made once, however many chunks it spans. No more than `size` bytes beyond the current chunk
 * are ever held. A stream that completes inside a frame fails with a `TruncatedFrameError` carrying
 * the bytes of the partial frame (`partial`) and `size` (`expected`).
 *
 * ```ts
 * import { from } from 'rxjs';
 * import { fixedSize } from 'rx-tcp/operators';
 *
 * from([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6, 7, 8)])
 *   .pipe(fixedSize(4))
 *   .subscribe((frame) => console.log(frame));
 * // <Buffer 01 02 03 04>
 * // <Buffer 05 06 07 08>
 * ```
 *
 * @param size The length of every frame, in bytes: a positive integer.
 * @return A function that returns an Observable of the `size`-byte frames of the source's bytes.
 */
export function fixedSize(size: number): OperatorFunction<Uint8Array, Buffer> {
  checkPositiveInteger('fixedSize', 'size', size, MAX_LIMIT);
  return decodeWith(() => new FixedSizeDecoder(size));
}
