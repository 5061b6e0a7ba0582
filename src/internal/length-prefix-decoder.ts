import { FrameTooLongError, TruncatedFrameError } from '../errors';
import type { ByteQueue } from './byte-queue';
import type { FrameDecoder } from './frame-decoder';

/** How a length prefix is laid out: an unsigned integer counting the payload bytes after it. */
export interface LengthPrefixFormat {
  headerBytes: 1 | 2 | 4;
  endian: 'big' | 'little';
  /** The longest payload accepted, in bytes. */
  maxFrameLength: number;
}

/**
 * Frames made of a `headerBytes` unsigned length, then that many payload bytes (the header excluded).
 * The length is checked against the limit as soon as the header is in, so a hostile prefix (up to
 * 4 GiB) is refused before any of its payload is buffered.
 */
export class LengthPrefixDecoder implements FrameDecoder<Buffer> {
  /** The header of the frame being received, once read; kept to report a truncated frame whole. */
  private header: Buffer | undefined;
  private payloadLength = 0;

  constructor(private readonly format: LengthPrefixFormat) {}

  decode(queue: ByteQueue): Buffer | undefined {
    const { headerBytes, endian, maxFrameLength } = this.format;
    if (this.header === undefined) {
      if (queue.length < headerBytes) return undefined;
      // Copied: a view would pin the whole chunk while a long payload trickles in.
      const header = Buffer.from(queue.take(headerBytes));
      const length = endian === 'big' ? header.readUIntBE(0, headerBytes) : header.readUIntLE(0, headerBytes);
      if (length > maxFrameLength) throw new FrameTooLongError(maxFrameLength, length);
      this.header = header;
      this.payloadLength = length;
    }
    if (queue.length < this.payloadLength) return undefined;
    this.header = undefined;
    return queue.take(this.payloadLength);
  }

  finish(queue: ByteQueue): Buffer | undefined {
    const { header, payloadLength } = this;
    this.header = undefined;
    if (header === undefined) {
      if (queue.length === 0) return undefined;
      throw new TruncatedFrameError(queue.takeAll());
    }
    throw new TruncatedFrameError(Buffer.concat([header, queue.takeAll()]), header.length + payloadLength);
  }
}
