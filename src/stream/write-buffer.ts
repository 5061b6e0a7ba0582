import type { Observable, SchedulerAction, SchedulerLike } from 'rxjs';
import { BufferAge, type BufferAgeLimit, type BufferAgeOwner } from './buffer-age';
import { type EndOfCycleFlush, flushAtEndOfCycle } from './end-of-cycle';
import { DONE, Outcome } from './outcome';
import type { Transport } from './transport';
import type { WriterState } from './writer-state';

/** Writes at least this long skip the coalescing buffer and go to the transport uncopied. */
const LARGE_WRITE = 16 * 1024;
/**
 * Sizes of the coalescing buffer: a cycle's first one is small (a slice of Node's shared pool, as
 * Node's own small writes are), and a cycle that writes more copies into the next size up. The
 * buffer is let go at the end of a cycle once the OS took everything, so an idle connection holds
 * none.
 */
const SMALL_BUFFER = 1024;
const MEDIUM_BUFFER = 8 * 1024;
const BUFFER_SIZE = 64 * 1024;
/**
 * A flush hands the bytes it takes from the buffer to the transport as they are (no copy) and the
 * next writes fill the buffer on from there; once less than this part of it is left (a sixteenth),
 * a fresh buffer is taken.
 */
const MIN_ROOM_SHIFT = 4;

/** @internal What a buffer needs of its writer: the count it keeps, its state, and how to end it. */
export interface WriteBufferOwner extends BufferAgeOwner {
  bytesWritten: number;
  readonly state: WriterState;
  /** Why the writer failed, once it did. */
  readonly failure: unknown;
  /** `bytes` written will never be sent. */
  drop(bytes: number): void;
  /** The transport failed: the peer is gone. */
  peerLeft(error: unknown): void;
}

/**
 * @internal The bytes a `Writer` was given and the operating system has not confirmed yet:
 * small writes coalesced into one buffer, handed to the transport together at the end of the
 * cycle (or when the buffer fills), then counted until the transport's callbacks confirm them.
 * One per writer; the writer decides what may be written, this only where the bytes are.
 */
export class WriteBuffer implements EndOfCycleFlush {
  /** Bytes handed to the transport so far. */
  private handed = 0;
  /**
   * Bytes the transport confirmed, through its write callbacks, reached the OS. What is lost when
   * the peer leaves is counted from it, never from Node's `writableLength`, which Node zeroes when
   * it destroys the socket.
   */
  private reached = 0;
  /** Where each write handed to the transport ends (in `handed`), oldest first, until its callback. */
  private ends: number[] | undefined;
  /** Each `flushed()` waiting, with the count of bytes reached that it waits for, oldest first. */
  private flushWaiters: { target: number; outcome: Outcome }[] | undefined;
  private afterWrite: ((error?: Error | null) => void) | undefined;
  private buffer: Buffer | undefined;
  /** Where in `buffer` the bytes not handed over yet begin; `buffered` of them follow. */
  private bufferStart = 0;
  private buffered = 0;
  /**
   * A short message written when nothing else waited, kept as it is (its bytes are the `buffered`
   * ones): a lone message per cycle, a request/response protocol's usual case, then goes to the
   * socket as it is, with no buffer taken. A string as written; bytes as a copy of their own.
   */
  private pending: string | Buffer | undefined;
  private flushScheduled = false;
  /** Made when the transport first backs up: most connections never do. */
  private age: BufferAge | undefined;

  constructor(
    private readonly writer: WriteBufferOwner,
    private readonly transport: Transport,
    private readonly bufferAgeLimit: BufferAgeLimit,
    /** Runs the buffer-age check. */
    private readonly scheduler: SchedulerLike,
    /** Runs the flush of small writes: a scheduler, or at the end of the event loop's cycle. */
    private readonly flushScheduler: SchedulerLike | 'end-of-cycle',
  ) {}

  /** Written bytes not confirmed to have reached the OS: those buffered and those handed over. */
  unconfirmed(): number {
    return this.buffered + (this.handed - this.reached);
  }

  /** Takes `text` (as UTF-8), counting it in the writer's `bytesWritten`. The writer is open. */
  writeString(text: string): void {
    // 3 bytes per UTF-16 unit bound the UTF-8 length without measuring it first.
    const bound = text.length * 3;
    if (bound === 0) return;
    if (this.buffered === 0 && bound < LARGE_WRITE) {
      const n = Buffer.byteLength(text);
      this.pending = text;
      this.buffered = n;
      this.writer.bytesWritten += n;
      this.scheduleFlush();
      return;
    }
    if (this.pending !== undefined) this.copyPending();
    if (bound > this.room()) {
      if (bound >= LARGE_WRITE) {
        this.writeBytes(Buffer.from(text, 'utf8'));
        return;
      }
      this.makeRoom(bound);
      if (this.writer.state !== 'open') {
        this.writer.drop(Buffer.byteLength(text)); // the flush failed
        return;
      }
    }
    const buffer = this.buffer ?? this.freshBuffer(bound);
    const n = buffer.write(text, this.bufferStart + this.buffered);
    this.buffered += n;
    this.writer.bytesWritten += n;
    this.scheduleFlush();
  }

  /** Takes `bytes` (a copy, unless large), counting them in the writer's `bytesWritten`. The writer is open. */
  writeBytes(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    if (n === 0) return;
    if (this.buffered === 0 && n < LARGE_WRITE) {
      this.pending = Buffer.from(bytes); // a copy: the caller may reuse `bytes` once we return
      this.buffered = n;
      this.writer.bytesWritten += n;
      this.scheduleFlush();
      return;
    }
    if (n >= LARGE_WRITE) {
      this.flush();
      if (this.writer.state !== 'open') {
        this.writer.drop(n); // the flush failed
        return;
      }
      this.writer.bytesWritten += n;
      this.hand(bytes, n);
      return;
    }
    if (this.pending !== undefined) this.copyPending();
    if (n > this.room()) {
      this.makeRoom(n);
      if (this.writer.state !== 'open') {
        this.writer.drop(n); // the flush failed
        return;
      }
    }
    const buffer = this.buffer ?? this.freshBuffer(n);
    buffer.set(bytes, this.bufferStart + this.buffered);
    this.buffered += n;
    this.writer.bytesWritten += n;
    this.scheduleFlush();
  }

  /**
   * Hands the buffered bytes to the transport: a view of the buffer, not a copy (those bytes are
   * never written over: later writes go after them, and then into a fresh buffer).
   */
  flush(): void {
    const n = this.buffered;
    if (n === 0) return;
    if (this.pending !== undefined) {
      const text = this.pending;
      this.pending = undefined;
      this.buffered = 0;
      this.hand(text, n);
      return;
    }
    const buffer = this.buffer!;
    const start = this.bufferStart;
    const chunk = buffer.subarray(start, start + n);
    this.buffered = 0;
    this.bufferStart = start + n;
    if (buffer.length - this.bufferStart < buffer.length >> MIN_ROOM_SHIFT) this.buffer = undefined;
    this.hand(chunk, n);
  }

  /**
   * The scheduled flush, at the end of the cycle. The buffer is let go once the OS took
   * everything; while bytes wait in the socket it is kept, for the next cycles' bytes to go on in
   * it: each new buffer would be held whole by the few bytes of it waiting there.
   */
  scheduledFlush(): void {
    this.flushScheduled = false;
    this.flush();
    if (this.transport.writableLength === 0) this.buffer = undefined;
  }

  /**
   * `Writer.flushed()`: flushes, then emits once every byte handed over so far reached the OS, or
   * errors with the writer's failure.
   */
  flushed(): Observable<void> {
    this.flush();
    const { writer } = this;
    const target = this.handed;
    // A flush that failed at once failed the writer, which settled the waiters already.
    if (writer.state !== 'failed' && this.reached >= target) return DONE;
    const outcome = new Outcome();
    if (writer.state === 'failed') {
      outcome.reject(writer.failure);
    } else {
      this.flushWaiters ??= [];
      this.flushWaiters.push({ target, outcome });
    }
    return outcome.asObservable();
  }

  /** The writer ended: every `flushed()` waiting gets the ending, `failure` if it `failed`. */
  settleFlushed(failed: boolean, failure: unknown): void {
    const waiters = this.flushWaiters;
    if (waiters === undefined) return;
    this.flushWaiters = undefined;
    for (const { outcome } of waiters) {
      if (failed) outcome.reject(failure);
      else outcome.resolve();
    }
  }

  /** The writer ended: drops what is buffered, unsent. */
  clear(): void {
    this.pending = undefined;
    this.buffered = 0;
    this.bufferStart = 0;
    this.buffer = undefined;
  }

  /** Nothing handed over can age any more (the writer ended, or the peer left with nothing lost). */
  stopAging(): void {
    const { age } = this;
    if (age === undefined) return;
    this.age = undefined;
    age.stop();
  }

  /** A transport's write callback: in order, one per chunk handed to it. */
  private written(error?: Error | null): void {
    // Once the writer ended or the peer left, a late callback changes nothing: Node even reports
    // success for a write still in flight when it destroyed the socket.
    const life = this.writer.state;
    if (life !== 'open' && life !== 'closing') return;
    if (error) {
      this.writer.peerLeft(error);
      return;
    }
    // One callback per write, in order: exact, whatever the transport counts (Node counts a queued
    // string in UTF-16 units, not bytes).
    const reached = this.ends!.shift()!;
    this.reached = reached;
    if (this.age !== undefined) this.age.confirmed(reached);
    const waiters = this.flushWaiters;
    if (waiters === undefined) return;
    while (waiters.length > 0 && waiters[0].target <= reached) waiters.shift()!.outcome.resolve();
    // A waiter's subscriber may have written and flushed meanwhile, and so replaced the list.
    if (waiters.length === 0 && this.flushWaiters === waiters) this.flushWaiters = undefined;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.flushScheduler === 'end-of-cycle') flushAtEndOfCycle(this);
    else this.flushScheduler.schedule(flushTask, 0, this);
  }

  /** A second write in the cycle: the pending message goes into the buffer, the second after it. */
  private copyPending(): void {
    const message = this.pending!;
    const n = this.buffered;
    this.pending = undefined;
    this.buffered = 0;
    if (n > this.room()) this.buffer = undefined;
    const buffer = this.buffer ?? this.freshBuffer(n);
    if (typeof message === 'string') buffer.write(message, this.bufferStart);
    else buffer.set(message, this.bufferStart);
    this.buffered = n;
  }

  /** Bytes that still fit in the buffer (none when there is none yet). */
  private room(): number {
    const { buffer } = this;
    return buffer === undefined ? 0 : buffer.length - this.bufferStart - this.buffered;
  }

  /**
   * Makes room for `n` more bytes (at most `BUFFER_SIZE`): a buffer smaller than the largest is
   * swapped for a larger one, its bytes copied over; the largest is flushed, then replaced if
   * `n` bytes still do not fit.
   */
  private makeRoom(n: number): void {
    const { buffer } = this;
    if (buffer !== undefined && buffer.length < BUFFER_SIZE) {
      const waiting = buffer.subarray(this.bufferStart, this.bufferStart + this.buffered);
      this.freshBuffer(this.buffered + n).set(waiting, 0);
      return;
    }
    this.flush();
    if (n > this.room()) this.buffer = undefined;
  }

  /** A new buffer, of the smallest size that holds `atLeast` bytes (at most `BUFFER_SIZE`). */
  private freshBuffer(atLeast: number): Buffer {
    const size =
      atLeast <= SMALL_BUFFER ? SMALL_BUFFER : atLeast <= MEDIUM_BUFFER ? MEDIUM_BUFFER : BUFFER_SIZE;
    this.bufferStart = 0;
    this.buffer = Buffer.allocUnsafe(size);
    return this.buffer;
  }

  /** Gives `n` bytes (`chunk`, or a string's UTF-8) to the transport. */
  private hand(chunk: Uint8Array | string, n: number): void {
    this.handed += n;
    // Made on the first write only: a connection that never writes does not pay for it.
    this.afterWrite ??= (error?: Error | null) => this.written(error);
    this.ends ??= [];
    this.ends.push(this.handed);
    this.transport.write(chunk, this.afterWrite);
    const life = this.writer.state;
    if (life !== 'open' && life !== 'closing') return; // the write failed at once
    if (this.transport.writableLength > 0 && this.bufferAgeLimit !== 'unlimited') {
      this.age ??= new BufferAge(this.writer, this.bufferAgeLimit, this.scheduler, this.reached);
      this.age.waits(chunk, this.handed);
    }
  }
}

// The scheduler task gets the buffer as its state, so that a writer needs no closure of its own.
function flushTask(this: SchedulerAction<WriteBuffer>, outgoing?: WriteBuffer): void {
  outgoing!.scheduledFlush();
}
