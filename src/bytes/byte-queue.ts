// bytes/: pure framing, bytes in and frames out: the ByteQueue and the FrameDecoders that cut it.
// No socket, no stream, no RxJS: these files import only ../errors, ../address, ../validate, each
// other and node:buffer, so the Reader's pull reads and the framing operators share them.

/**
 * A small chunk arriving behind another small one is copied into a buffer of the queue's own
 * (up to TAIL_SIZE bytes) rather than kept as it came: a peer trickling a byte per packet would
 * otherwise make each byte cost a Buffer object and its memory, many times its size.
 */
const SMALL_CHUNK = 512;
const TAIL_SIZE = 4096;

/**
 * A FIFO of byte chunks that frames are cut from, shared by the Reader's pull reads and the framing
 * operators. Chunks are kept as they arrived, but for small ones arriving in a row, which are
 * gathered; cutting a frame that lies inside one chunk is a zero-copy `subarray`, and a frame
 * spanning chunks is copied exactly once. Searching resumes where the previous search stopped, so
 * a frame spread over many small chunks is found in linear time.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Index in `chunks` of the first chunk still holding bytes. */
  private head = 0;
  /** Bytes of `chunks[head]` already taken. */
  private headOffset = 0;
  /** Bytes held. */
  length = 0;
  /** Bytes ever removed (see `position`). */
  private removed = 0;
  /** The chunk `locate` last found: its index and the absolute position of its byte 0. */
  private memoChunk = -1;
  private memoAbsolute = 0;
  /** Set by `locate`: the queue position of byte 0 of the chunk it found (negative for a head chunk partly taken). */
  private located = 0;
  /**
   * The buffer gathering small chunks, while the last chunk is the view of its first `tailUsed`
   * bytes. Bytes are only ever added after those, so views of it already handed out stay valid.
   */
  private tail: Buffer | undefined;
  private tailUsed = 0;

  /** @param gatherBelow Chunks shorter than this arriving in a row are gathered; 0 keeps every chunk as it came. */
  constructor(private readonly gatherBelow = SMALL_CHUNK) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    this.length += n;
    if (n < this.gatherBelow && this.gather(chunk)) return;
    this.chunks.push(chunk);
    this.tail = undefined;
  }

  /** Copies a small chunk into the tail buffer, when the last chunk is small too; false if not. */
  private gather(chunk: Buffer): boolean {
    const last = this.chunks.length - 1;
    // Alone in the queue, a chunk is kept as it came: an idle connection holds no tail buffer.
    if (last < this.head) return false;
    let tail = this.tail;
    if (tail === undefined || this.tailUsed + chunk.length > tail.length) {
      const previous = this.chunks[last];
      if (previous.length >= this.gatherBelow || (last === this.head && this.headOffset > 0)) return false;
      tail = this.tail = Buffer.allocUnsafe(TAIL_SIZE);
      this.tailUsed = previous.copy(tail, 0);
    }
    this.tailUsed += chunk.copy(tail, this.tailUsed);
    this.chunks[last] = tail.subarray(0, this.tailUsed);
    return true;
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

  /**
   * The stream position of the first byte held: how many bytes were ever removed, cleared ones
   * included. Whoever remembers something about the bytes held checks with it that they are still
   * there.
   */
  get position(): number {
    return this.removed;
  }

  /**
   * Removes the first `n` bytes (`n <= length`) as text decoded as `encoding`, with no Buffer view
   * when they lie in one chunk.
   */
  takeText(n: number, encoding: BufferEncoding): string {
    if (n === 0) return '';
    const first = this.chunks[this.head];
    const from = this.headOffset;
    if (n > first.length - from) return this.take(n).toString(encoding);
    const text = first.toString(encoding, from, from + n);
    this.skip(n);
    return text;
  }

  /** Removes and returns every byte held. */
  takeAll(): Buffer {
    return this.take(this.length);
  }

  /** Discards the first `n` bytes (`n <= length`). */
  skip(n: number): void {
    if (n === 0) return;
    const available = this.chunks[this.head].length - this.headOffset;
    if (n < available) {
      this.headOffset += n;
    } else if (n === this.length) {
      this.dropAll();
    } else {
      // A jump to the chunk holding the new head rather than a walk: after a read that ended
      // there, `locate` finds it at once, so a commit costs the same however many chunks it spans.
      const i = this.locate(n);
      this.headOffset = n - this.located;
      this.head = i;
      this.compact();
    }
    this.length -= n;
    this.removed += n;
  }

  /** The byte at `index` (`index < length`), without removing it. */
  byteAt(index: number): number {
    const first = this.chunks[this.head];
    const at = index + this.headOffset;
    if (at < first.length) return first[at];
    const i = this.locate(index);
    return this.chunks[i][index - this.located];
  }

  /**
   * The `n` bytes from position `start` (`start + n <= length`), without removing them: a view of
   * the chunk when they lie inside one, else a copy.
   */
  peek(start: number, n: number): Buffer {
    if (n === 0) return EMPTY;
    const head = this.chunks[this.head];
    const at = start + this.headOffset;
    if (at + n <= head.length) return head.subarray(at, at + n);
    const i = this.locate(start);
    const chunk = this.chunks[i];
    const from = start - this.located;
    if (from + n <= chunk.length) return chunk.subarray(from, from + n);
    return this.copyOut(i, this.located, from, n);
  }

  /**
   * The bytes from position `start` to `end` (`end <= length`) decoded as `encoding`, without
   * removing them, and with no Buffer made when they lie inside one chunk.
   */
  text(start: number, end: number, encoding: BufferEncoding): string {
    if (end <= start) return '';
    const i = this.locate(start);
    const chunk = this.chunks[i];
    const from = start - this.located;
    const n = end - start;
    if (from + n <= chunk.length) return chunk.toString(encoding, from, from + n);
    return this.copyOut(i, this.located, from, n).toString(encoding);
  }

  /**
   * The position of the first occurrence of `needle` (bytes, or one byte as a number) at or after
   * `from`, or -1. Occurrences that straddle chunk boundaries are found too. A caller that searches
   * again once more bytes have arrived passes `from = max(0, length - needle.length + 1)` of its
   * failed search, and the search resumes at the chunk where that one stopped: a frame spread over
   * many chunks costs linear time.
   */
  indexOf(needle: Uint8Array | number, from = 0): number {
    const needleLength = typeof needle === 'number' ? 1 : needle.length;
    if (needleLength === 0) return from <= this.length ? from : -1;
    if (from >= this.length) return -1;
    // A one-byte needle is searched as a number: memchr, without the Buffer needle's set-up.
    const byte = typeof needle === 'number' ? needle : needleLength === 1 ? needle[0] : -1;
    // Resume at the chunk holding `from`, not the last one searched: with a needle longer than the
    // chunks, the next `from` lies before the last chunk, and a memo past it would be unusable,
    // sending every search back to the head (quadratic in the number of chunks).
    let i = this.locate(from);
    let start = this.located;
    for (; i < this.chunks.length; i++) {
      const chunk = this.chunks[i];
      const first = Math.max(from - start, i === this.head ? this.headOffset : 0);
      const local = byte !== -1 ? chunk.indexOf(byte, first) : chunk.indexOf(needle as Uint8Array, first);
      if (local !== -1) return start + local;
      if (byte === -1 && i + 1 < this.chunks.length) {
        const straddle = this.straddling(needle as Uint8Array, i, first);
        if (straddle !== -1) return start + straddle;
      }
      start += chunk.length;
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
    this.tail = undefined;
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.removed += this.length;
    this.length = 0;
    this.memoChunk = -1;
  }

  /**
   * A match that starts in chunks[i] at or after byte `first` of it and ends in a later chunk, as an
   * offset from byte 0 of chunks[i]. Only its last needle.length - 1 bytes can start one; each is
   * compared in place.
   */
  private straddling(needle: Uint8Array, i: number, first: number): number {
    const chunk = this.chunks[i];
    for (let s = Math.max(chunk.length - (needle.length - 1), first); s < chunk.length; s++) {
      if (chunk[s] === needle[0] && this.matches(needle, i, s)) return s;
    }
    return -1;
  }

  /** Whether `needle` lies at byte `at` of chunks[i], running on into the chunks after it. */
  private matches(needle: Uint8Array, i: number, at: number): boolean {
    let chunk = this.chunks[i];
    for (let k = 0; k < needle.length; k++, at++) {
      if (at === chunk.length) {
        if (++i === this.chunks.length) return false;
        chunk = this.chunks[i];
        at = 0;
      }
      if (chunk[at] !== needle[k]) return false;
    }
    return true;
  }

  /**
   * The index of the chunk holding position `index` (< length), its start left in `located`. It
   * starts from the chunk found last when that lies at or before `index`, so callers walking
   * forward through many chunks pay for each chunk once.
   */
  private locate(index: number): number {
    let i = this.head;
    let start = -this.headOffset;
    if (this.memoChunk > this.head && this.memoChunk < this.chunks.length) {
      const memoStart = this.memoAbsolute - this.removed;
      if (memoStart <= index) {
        i = this.memoChunk;
        start = memoStart;
      }
    }
    for (let length = this.chunks[i].length; index >= start + length; length = this.chunks[i].length) {
      start += length;
      i++;
    }
    this.memoChunk = i;
    this.memoAbsolute = start + this.removed;
    this.located = start;
    return i;
  }

  /**
   * A copy of the `n` bytes from byte `from` of chunks[i] on, across the chunks after it, `start`
   * being the queue position of byte 0 of chunks[i]. The memo is left on the chunk where the bytes
   * end, where a skip past them looks.
   */
  private copyOut(i: number, start: number, from: number, n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (;;) {
      const chunk = this.chunks[i];
      filled += chunk.copy(out, filled, from, Math.min(chunk.length, from + n - filled));
      if (filled === n) break;
      start += chunk.length;
      from = 0;
      i++;
    }
    this.memoChunk = i;
    this.memoAbsolute = start + this.removed;
    return out;
  }

  private dropHead(): void {
    this.headOffset = 0;
    this.head++;
    if (this.head === this.chunks.length) this.dropAll();
    else this.compact();
  }

  private dropAll(): void {
    // pop() for the usual single chunk: setting `length` is a runtime call.
    if (this.chunks.length === 1) this.chunks.pop();
    else this.chunks.length = 0;
    this.head = 0;
    this.headOffset = 0;
    this.memoChunk = -1;
    this.tail = undefined;
  }

  /** Compacts occasionally so that the array does not grow for ever on a long-lived stream. */
  private compact(): void {
    if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.memoChunk -= this.head;
      this.head = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
