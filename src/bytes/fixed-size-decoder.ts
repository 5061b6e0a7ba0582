import { TruncatedFrameError } from '../errors';
import type { ByteQueue } from './byte-queue';
import { ExactDecoder } from './exact-decoder';
import type { FrameDecoder } from './frame-decoder';

/**
 * Frames of exactly `size` bytes, for `fixedSize()`. Unlike its base {@link ExactDecoder}, which
 * reports a short read, a stream ending inside a frame is an error: a fixed-size protocol never ends
 * there.
 */
export class FixedSizeDecoder extends ExactDecoder implements FrameDecoder<Buffer> {
  override finish(queue: ByteQueue): Buffer | undefined {
    if (queue.length === 0) return undefined;
    throw new TruncatedFrameError(queue.takeAll(), this.size);
  }
}
