import { TruncatedFrameError } from '../errors';
import type { ByteQueue } from './byte-queue';
import type { FrameDecoder } from './frame-decoder';

/**
 * Frames of exactly `size` bytes. Unlike {@link ExactDecoder} (Async's `really_read`, which reports a
 * short read), a stream ending inside a frame is an error: a fixed-size protocol never ends there.
 */
export class FixedSizeDecoder implements FrameDecoder<Buffer> {
  constructor(private readonly size: number) {}

  decode(queue: ByteQueue): Buffer | undefined {
    return queue.length >= this.size ? queue.take(this.size) : undefined;
  }

  finish(queue: ByteQueue): Buffer | undefined {
    if (queue.length === 0) return undefined;
    // decode() took every whole frame, so what is left is less than one.
    throw new TruncatedFrameError(queue.takeAll(), this.size);
  }
}
