import type { ByteQueue } from '../bytes/byte-queue';
import { checkNumber, describe } from '../validate';

const LF = 0x0a;
const CR = 0x0d;
const NO_BYTES = Buffer.alloc(0);

/**
 * What a {@link DecodeStep} sees: the bytes buffered, from the end of the last frame on, read
 * through a position that each read moves forward. Every position and index is relative to that
 * position. The cursor is only usable while its step runs; using it afterwards throws.
 */
export interface DecodeCursor {
  /** Bytes available to this step, from the cursor's position (what earlier reads of this step consumed is gone). */
  readonly length: number;
  /** True once the source completed: no more bytes will come (the last calls of step). */
  readonly ended: boolean;
  /** The byte at `index` (relative to the position), or -1 past the end. */
  byteAt(index: number): number;
  /**
   * Position (relative) of `search` (a byte value, a string (UTF-8) or bytes) at or after `from`
   * (default 0), or -1. A match cut between chunks is found too.
   */
  indexOf(search: number | string | Uint8Array, from?: number): number;
  /** The next n bytes without consuming them, or undefined when fewer than n are buffered. */
  peek(n: number): Buffer | undefined;
  /**
   * Consumes and returns the next n bytes, or undefined (consuming nothing) when fewer are buffered.
   * A view of the chunk when they lie in one chunk, else one copy.
   */
  read(n: number): Buffer | undefined;
  /** Consumes n bytes; false (consuming nothing) when fewer are buffered. */
  skip(n: number): boolean;
  /**
   * Consumes and returns the next line as a string (split on \n, one \r before it stripped;
   * encoding default utf8), or undefined (consuming nothing) when no \n is buffered.
   */
  readLine(encoding?: BufferEncoding): string | undefined;
  /** Like readLine, but without consuming. */
  peekLine(encoding?: BufferEncoding): string | undefined;
}

/** Returns a frame, or undefined to wait for more bytes. */
export type DecodeStep<T> = (cursor: DecodeCursor) => T | undefined;

/**
 * The one cursor of a subscription, reused by every step call: a position over the queue, which
 * only a frame's commit removes bytes from, so undoing a step is resetting the position.
 */
export class Cursor implements DecodeCursor {
  /** Bytes the running step consumed, from the queue's head. */
  private position = 0;
  /** A step is running: the only time the cursor may be used. */
  private live = false;
  private atEnd = false;
  /** Bytes committed so far: a queue position plus this is an absolute stream position. */
  private committed = 0;
  /**
   * The last search for `\n`, in absolute positions, so that the lines of a step (and a line still
   * arriving, across steps) are not searched again: the first `\n` at or after `lineFrom` is at
   * `lineAt`, or, when `lineAt` is -1, there is none before `lineTo`.
   */
  private lineFrom = 0;
  private lineAt = -1;
  private lineTo = 0;
  /** The last string searched for, and its bytes: a step searches for the same few delimiters. */
  private lastSearch = '';
  private lastNeedle: Buffer = NO_BYTES;

  constructor(private readonly queue: ByteQueue) {}

  get length(): number {
    this.check();
    return this.queue.length - this.position;
  }

  get ended(): boolean {
    this.check();
    return this.atEnd;
  }

  byteAt(index: number): number {
    this.check();
    if (!(Number.isInteger(index) && index >= 0)) checkNumber('DecodeCursor.byteAt', 'index', index, 0, true);
    const at = this.position + index;
    return at < this.queue.length ? this.queue.byteAt(at) : -1;
  }

  indexOf(search: number | string | Uint8Array, from = 0): number {
    this.check();
    if (!(Number.isInteger(from) && from >= 0)) checkNumber('DecodeCursor.indexOf', 'from', from, 0, true);
    let needle: Uint8Array | number;
    if (typeof search === 'string') {
      if (search !== this.lastSearch) {
        this.lastNeedle = Buffer.from(search, 'utf8');
        this.lastSearch = search;
      }
      needle = this.lastNeedle;
    } else if (typeof search === 'number') {
      if (!(Number.isInteger(search) && search >= 0 && search <= 255)) {
        throw new RangeError(`DecodeCursor.indexOf: a byte must be an integer from 0 to 255, got ${search}`);
      }
      needle = search;
    } else if (search instanceof Uint8Array) {
      needle = search;
    } else {
      throw new TypeError(
        `DecodeCursor.indexOf: search must be a byte, a string or a Uint8Array, got ${describe(search)}`,
      );
    }
    const at = this.queue.indexOf(needle, this.position + from);
    return at === -1 ? -1 : at - this.position;
  }

  peek(n: number): Buffer | undefined {
    this.check();
    if (!(Number.isInteger(n) && n >= 0)) checkNumber('DecodeCursor.peek', 'n', n, 0, true);
    return n <= this.queue.length - this.position ? this.queue.peek(this.position, n) : undefined;
  }

  read(n: number): Buffer | undefined {
    this.check();
    if (!(Number.isInteger(n) && n >= 0)) checkNumber('DecodeCursor.read', 'n', n, 0, true);
    if (n > this.queue.length - this.position) return undefined;
    const bytes = this.queue.peek(this.position, n);
    this.position += n;
    return bytes;
  }

  skip(n: number): boolean {
    this.check();
    if (!(Number.isInteger(n) && n >= 0)) checkNumber('DecodeCursor.skip', 'n', n, 0, true);
    if (n > this.queue.length - this.position) return false;
    this.position += n;
    return true;
  }

  readLine(encoding: BufferEncoding = 'utf8'): string | undefined {
    this.check();
    const lf = this.newline();
    if (lf === -1) return undefined;
    const line = this.line(lf, encoding);
    this.position = lf + 1;
    return line;
  }

  peekLine(encoding: BufferEncoding = 'utf8'): string | undefined {
    this.check();
    const lf = this.newline();
    return lf === -1 ? undefined : this.line(lf, encoding);
  }

  /** Calls `step` once; when it returns `undefined`, what it read is put back. */
  call<T>(step: DecodeStep<T>, ended: boolean): T | undefined {
    this.atEnd = ended;
    this.live = true;
    // No try/finally here, which would cost every call: a step that throws is followed by drop().
    const frame = step(this);
    this.live = false;
    if (frame === undefined) this.position = 0;
    return frame;
  }

  /** Removes what the step read from the queue; false when it read nothing. */
  commit(): boolean {
    const consumed = this.position;
    if (consumed === 0) return false;
    this.queue.skip(consumed);
    this.committed += consumed;
    this.position = 0;
    return true;
  }

  /** Drops every byte buffered and closes the cursor, also under a step still running. */
  drop(): void {
    this.live = false;
    this.committed += this.queue.length;
    this.queue.clear();
    this.position = 0;
  }

  private check(): void {
    if (!this.live) {
      throw new Error(
        'decode: a DecodeCursor was used after its step returned; read everything a frame needs during the step',
      );
    }
  }

  /** The queue position of the first `\n` at or after the cursor's position, or -1. */
  private newline(): number {
    const { committed, position } = this;
    const here = committed + position;
    let from = here;
    if (this.lineFrom <= here) {
      if (this.lineAt >= here) return this.lineAt - committed;
      if (this.lineAt === -1 && this.lineTo > here) from = this.lineTo;
    }
    const at = this.queue.indexOf(LF, from - committed);
    this.lineFrom = here;
    this.lineAt = at === -1 ? -1 : at + committed;
    this.lineTo = committed + this.queue.length;
    return at;
  }

  /** The text from the position to the `\n` at `lf`, a `\r` before it left out. */
  private line(lf: number, encoding: BufferEncoding): string {
    const end = lf > this.position && this.queue.byteAt(lf - 1) === CR ? lf - 1 : lf;
    return this.queue.text(this.position, end, encoding);
  }
}
