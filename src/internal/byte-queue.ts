/**
 * A FIFO of byte chunks that frames are cut from, shared by the Reader's pull reads and the framing
 * operators. Chunks are kept as they arrived; cutting a frame that lies inside one chunk is a
 * zero-copy `subarray`, and a frame spanning chunks is copied exactly once. Searching resumes where
 * the previous search stopped, so a frame spread over many small chunks is found in linear time.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Index in `chunks` of the first chunk still holding bytes. */
  private head = 0;
  /** Bytes of `chunks[head]` already taken. */
  private headOffset = 0;
  /** Bytes held. */
  length = 0;
  /** Bytes ever removed, so that positions remembered across removals stay comparable. */
  private removed = 0;
  /** Where the last search stopped: a chunk index and the absolute position of its byte 0. */
  private memoChunk = -1;
  private memoAbsolute = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Removes and returns the first chunk's remaining bytes, without copying. */
  shift(): Buffer | undefined {
    if (this.length === 0) return undefined;
    const chunk = this.chunks[this.head];
    const out = this.headOffset === 0 ? chunk : chunk.subarray(this.headOffset);
    this.dropHead();
    this.length -= out.length;
    this.removed += out.length;
    return out;
  }

  /** Removes and returns the first `n` bytes (`n <= length`), copying only when they span chunks. */
  take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[this.head];
    const available = first.length - this.headOffset;
    if (n <= available) {
      const out = first.subarray(this.headOffset, this.headOffset + n);
      if (n === available) this.dropHead();
      else this.headOffset += n;
      this.length -= n;
      this.removed += n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.head];
      const start = this.headOffset;
      const count = Math.min(chunk.length - start, n - filled);
      chunk.copy(out, filled, start, start + count);
      filled += count;
      if (start + count === chunk.length) this.dropHead();
      else this.headOffset += count;
    }
    this.length -= n;
    this.removed += n;
    return out;
  }

  /** Removes the first `n` bytes (`n <= length`) as UTF-8 text, with no Buffer view when they lie in one chunk. */
  takeUtf8(n: number): string {
    if (n === 0) return '';
    const first = this.chunks[this.head];
    const from = this.headOffset;
    if (n > first.length - from) return this.take(n).toString('utf8');
    const text = first.toString('utf8', from, from + n);
    this.skip(n);
    return text;
  }

  /** Removes and returns every byte held. */
  takeAll(): Buffer {
    return this.take(this.length);
  }

  /** Discards the first `n` bytes (`n <= length`). */
  skip(n: number): void {
    this.removed += n;
    while (n > 0) {
      const chunk = this.chunks[this.head];
      const available = chunk.length - this.headOffset;
      if (n < available) {
        this.headOffset += n;
        this.length -= n;
        return;
      }
      n -= available;
      this.length -= available;
      this.dropHead();
    }
  }

  /** The byte at `index` (`index < length`), without removing it. */
  byteAt(index: number): number {
    let i = this.head;
    index += this.headOffset;
    while (index >= this.chunks[i].length) {
      index -= this.chunks[i].length;
      i++;
    }
    return this.chunks[i][index];
  }

  /**
   * The position of the first occurrence of `needle` at or after `from`, or -1. Occurrences that
   * straddle chunk boundaries are found too. A caller that searches again once more bytes have
   * arrived passes `from = max(0, length - needle.length + 1)` of its failed search, and the search
   * resumes at the chunk where that one stopped: a frame spread over many chunks costs linear time.
   */
  indexOf(needle: Buffer, from = 0): number {
    if (needle.length === 0) return from <= this.length ? from : -1;
    let i = this.head;
    let start = -this.headOffset; // queue position of byte 0 of chunks[i]
    if (this.memoChunk > this.head && this.memoChunk < this.chunks.length) {
      const memoStart = this.memoAbsolute - this.removed;
      if (memoStart <= from) {
        i = this.memoChunk;
        start = memoStart;
      }
    }
    let memoized = false;
    for (; i < this.chunks.length; i++) {
      const chunk = this.chunks[i];
      const end = start + chunk.length;
      if (from < end) {
        // Remember the chunk holding `from`, not the last one searched: with a needle longer than
        // the chunks, the next `from` lies before the last chunk, and a memo past it would be
        // unusable, sending every search back to the head (quadratic in the number of chunks).
        if (!memoized) {
          memoized = true;
          this.memoChunk = i;
          this.memoAbsolute = start + this.removed;
        }
        const first = Math.max(from - start, i === this.head ? this.headOffset : 0);
        // A one-byte needle is searched as a number: memchr, without the Buffer needle's set-up.
        const local = needle.length === 1 ? chunk.indexOf(needle[0], first) : chunk.indexOf(needle, first);
        if (local !== -1) return start + local;
        if (needle.length > 1 && i + 1 < this.chunks.length) {
          const straddle = this.straddling(needle, i, first);
          if (straddle !== -1) return start + straddle;
        }
      }
      start = end;
    }
    return -1;
  }

  /** Calls `visit` with each held chunk's remaining bytes, in order, without removing them. */
  forEachChunk(visit: (chunk: Buffer) => void): void {
    for (let i = this.head; i < this.chunks.length; i++) {
      const chunk = this.chunks[i];
      visit(i === this.head && this.headOffset > 0 ? chunk.subarray(this.headOffset) : chunk);
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.removed += this.length;
    this.length = 0;
    this.memoChunk = -1;
  }

  /**
   * A match that starts in chunks[i] at or after byte `first` of it and ends in a later chunk, as an
   * offset from byte 0 of chunks[i]. Only needle.length - 1 bytes on each side of the boundary can
   * hold one, so only those are copied.
   */
  private straddling(needle: Buffer, i: number, first: number): number {
    const chunk = this.chunks[i];
    const tailFrom = Math.max(chunk.length - (needle.length - 1), first);
    const tailLength = chunk.length - tailFrom;
    if (tailLength <= 0) return -1;
    const window = Buffer.allocUnsafe(tailLength + needle.length - 1);
    chunk.copy(window, 0, tailFrom);
    let filled = tailLength;
    for (let j = i + 1; j < this.chunks.length && filled < window.length; j++) {
      filled += this.chunks[j].copy(window, filled, 0);
    }
    const found = window.subarray(0, filled).indexOf(needle);
    return found !== -1 && found < tailLength ? tailFrom + found : -1;
  }

  private dropHead(): void {
    this.headOffset = 0;
    this.head++;
    // Compact occasionally so that the array does not grow for ever on a long-lived stream.
    if (this.head === this.chunks.length) {
      // pop() for the usual single chunk: setting `length` is a runtime call.
      if (this.head === 1) this.chunks.pop();
      else this.chunks.length = 0;
      this.head = 0;
      this.memoChunk = -1;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.memoChunk -= this.head;
      this.head = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
