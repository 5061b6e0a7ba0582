import type { ByteQueue } from './byte-queue';
import type { FrameDecoder } from './frame-decoder';

/** What `reallyRead(n)` gives at end of stream when fewer than n bytes came. */
export interface ShortRead {
  /** Always `true`: fewer bytes than asked for came before the end of the stream. */
  short: true;
  /** The bytes that did come. */
  data: Buffer;
}

/** Exactly `size` bytes; at end of stream, what came (Async's `really_read`). */
export class ExactDecoder implements FrameDecoder<Buffer | ShortRead> {
  constructor(protected readonly size: number) {}

  decode(queue: ByteQueue): Buffer | undefined {
    return queue.length >= this.size ? queue.take(this.size) : undefined;
  }

  /** Called once `decode` has taken every whole frame: what is left is less than one. */
  finish(queue: ByteQueue): Buffer | ShortRead | undefined {
    if (queue.length === 0) return undefined;
    return { short: true, data: queue.takeAll() };
  }
}
