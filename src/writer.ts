import {
  asapScheduler,
  asyncScheduler,
  type Observable,
  type Observer,
  type SchedulerAction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { BufferAgeLimitError, ConsumerLeftError, WriterClosedError } from './errors';
import { flushAtEndOfTick } from './internal/end-of-tick';
import { Outcome } from './internal/outcome';
import type { Transport } from './internal/transport';

/** How long written bytes may wait unflushed: milliseconds, or `'unlimited'`. */
export type BufferAgeLimit = number | 'unlimited';

/** Options of {@link Writer.close}. */
export interface WriterCloseOptions {
  /**
   * If flushing and sending FIN take longer than this many milliseconds, the connection is closed
   * at once and the unflushed bytes are dropped. `'never'` waits for ever. Default `30_000`.
   */
  forceCloseAfter?: number | 'never';
}

/** @internal What the writer tells the connection that owns its transport. */
export interface WriterOwner {
  /** FIN was sent (or the writer gave up): the writer is done with the transport. */
  writerFinished(failure: unknown): void;
  /** The writer failed (buffer age limit, abort): the connection must be torn down. */
  writerAborted(failure: unknown): void;
  /** The peer is gone: what `consumerLeft` reports, for an owner that needs no Observable. */
  peerLeft?(): void;
  /** The writer finished with `failure`: what `closeFinished` errors with, likewise. */
  writerFailed?(failure: unknown): void;
}

/** Writes at least this long skip the coalescing buffer and go to the transport uncopied. */
const LARGE_WRITE = 16 * 1024;
/** Size of the coalescing buffer. */
const BUFFER_SIZE = 64 * 1024;
/**
 * A flush hands the bytes it takes from the buffer to the transport as they are (no copy) and the
 * next writes fill the buffer on from there; once less than this is left, a fresh buffer is taken.
 */
const MIN_ROOM = 1024;
/** `writeLine` joins a text shorter than this with its `\n` before copying it: one copy, not two. */
const JOIN_LINE_BELOW = 1024;
/** How many of the waiting bytes a `BufferAgeLimitError` quotes. */
const QUOTED_BYTES = 32;
const NEWLINE = Buffer.from('\n');

/** A chunk handed to the transport while it was backed up, kept for the buffer-age check. */
interface Waiting {
  chunk: Uint8Array;
  /** Total bytes handed to the transport once this chunk was. */
  end: number;
  /** When it was handed over, by the scheduler's clock. */
  at: number;
}

/**
 * The sending side of a connection: Async's buffered writer, as an RxJS `Observer`.
 *
 * `next` writes, `complete` closes (flush, then FIN) and `error` aborts the connection, so
 * `source$.subscribe(writer)` pipes a stream into the socket. Small writes made in one tick are
 * copied into one buffer and handed to the operating system together, at the end of the tick or
 * when the buffer fills: one system call for many messages, which is where most of the speed of a
 * chatty protocol comes from. Writes made while received bytes are delivered (in a reader's
 * subscriber) go out as soon as that delivery returns, still together. A `Uint8Array` smaller than
 * 16 KiB is copied, so the caller may reuse it as soon as `write` returns; a larger one is passed
 * through without a copy and must not be changed until `flushed()` emits. No byte is reordered or
 * lost.
 *
 * When written bytes wait unflushed longer than `bufferAgeLimit` (a peer that stopped reading),
 * the writer fails with a `BufferAgeLimitError` and the connection is closed; the error is the
 * error of `flushed()` and `close()`, never an uncaught exception.
 *
 * ```ts
 * import { firstValueFrom } from 'rxjs';
 * import { connect, toHostAndPort } from 'rx-tcp';
 *
 * const { reader, writer } = await firstValueFrom(connect(toHostAndPort('127.0.0.1', 7000)));
 * for (let i = 0; i < 1000; i++) writer.writeLine(`message ${i}`); // one system call, not 1000
 * await firstValueFrom(writer.close()); // flushed, FIN sent
 * await firstValueFrom(reader.close());
 * ```
 */
export class Writer implements Observer<string | Uint8Array> {
  /** Bytes given to `write` so far. */
  bytesWritten = 0;

  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: unknown;
  private peerGone: unknown;
  private buffer: Buffer | undefined;
  /** Where in `buffer` the bytes not handed over yet begin; `buffered` of them follow. */
  private bufferStart = 0;
  private buffered = 0;
  /**
   * A short string written when nothing else waited, kept as it is (its bytes are the `buffered`
   * ones): a lone message per tick, a request/response protocol's usual case, then goes to the
   * socket as a string, with no copy into the buffer and no view of it made for the flush.
   */
  private pending: string | undefined;
  /** Bytes handed to the transport so far. */
  private handed = 0;
  private flushScheduled = false;
  private flushWaiters: { target: number; outcome: Outcome }[] | undefined;
  private afterWrite: ((error?: Error | null) => void) | undefined;
  private waiting: Waiting[] | undefined;
  private ageCheck: Subscription | undefined;
  private forceClose: Subscription | undefined;
  /** `closeFinished`, made when first asked for: most writers are closed without anyone asking. */
  private finished: Outcome | undefined;
  /** What the close settled with (`undefined`: success), once `state` is `'closed'`. */
  private closeFailure: unknown;
  private left: Outcome | undefined;

  /** @internal */
  constructor(
    private readonly transport: Transport,
    private readonly owner: WriterOwner,
    private readonly bufferAgeLimit: BufferAgeLimit,
    /** Runs the buffer-age and force-close timers. */
    private readonly scheduler: SchedulerLike = asyncScheduler,
    /** Runs the end-of-tick flush. */
    private readonly flushScheduler: SchedulerLike | 'microtask' = asapScheduler,
    /** @internal Sees every write as it is made (`rx-tcp/testing`, idle timeouts). */
    private readonly tap?: (data: string | Uint8Array) => void,
  ) {}

  /** Bytes written that have not reached the operating system yet. */
  get bytesToWrite(): number {
    return this.buffered + this.transport.writableLength;
  }

  /** True once `close()` or `complete()` was called, or the writer failed. */
  get isClosed(): boolean {
    return this.state !== 'open' || this.failure !== undefined;
  }

  /**
   * Emits (and completes) when the peer is gone: a reset or a broken pipe. Hot, replaying. That
   * alone is not an error: writing afterwards is, through `flushed()` and `close()`.
   */
  get consumerLeft(): Observable<void> {
    this.left ??= new Outcome();
    if (this.peerGone !== undefined) this.left.resolve();
    return this.left.asObservable();
  }

  /** Completes when the writer is closed (FIN sent, or forced), erroring if the writer failed. */
  get closeFinished(): Observable<void> {
    if (this.finished === undefined) {
      this.finished = new Outcome();
      if (this.state === 'closed') this.settleFinished(this.finished);
    }
    return this.finished.asObservable();
  }

  /**
   * Queues `data` (a string is written as UTF-8) and returns at once.
   * @throws WriterClosedError after `close()` or `complete()`: writing there is a bug of the caller.
   */
  write(data: string | Uint8Array): void {
    if (this.state !== 'open') throw new WriterClosedError();
    if (this.tap !== undefined) this.tap(data);
    if (this.failure !== undefined || this.peerGone !== undefined) {
      this.lose(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
      return;
    }
    if (typeof data === 'string') this.writeString(data);
    else this.writeBytes(data);
  }

  /** Writes `text` and a `\n`. */
  writeLine(text: string): void {
    if (this.tap !== undefined || text.length < JOIN_LINE_BELOW) {
      this.write(`${text}\n`);
    } else {
      this.write(text);
      this.write(NEWLINE);
    }
  }

  /** `Observer.next`: writes `data`. */
  next(data: string | Uint8Array): void {
    this.write(data);
  }

  /** `Observer.complete`: closes the writer (flush, then FIN). */
  complete(): void {
    this.close();
  }

  /** `Observer.error`: aborts: drops what is unflushed and closes the connection at once. */
  error(_reason: unknown): void {
    if (this.state === 'closed') return;
    this.abort(undefined);
  }

  /**
   * Emits once every byte written before the call reached the operating system; errors if the
   * writer fails first. Hot: the flush happens whether or not it is subscribed.
   */
  flushed(): Observable<void> {
    const outcome = new Outcome();
    if (this.failure !== undefined) {
      outcome.reject(this.failure);
    } else {
      this.flushNow();
      const target = this.handed;
      if (this.handed - this.transport.writableLength >= target) outcome.resolve();
      else {
        this.flushWaiters ??= [];
        this.flushWaiters.push({ target, outcome });
      }
    }
    return outcome.asObservable();
  }

  /**
   * Flushes, sends FIN and finishes; the reader stays usable (half-close). Idempotent: every call
   * returns the same Observable, which completes when done, or errors if the writer failed.
   * @param options `forceCloseAfter` (default `30_000` ms).
   */
  close(options: WriterCloseOptions = {}): Observable<void> {
    this.shut(options);
    return this.closeFinished;
  }

  /** @internal `close()` without its result, for the connection closing its writer itself. */
  shut(options: WriterCloseOptions): void {
    const { forceCloseAfter = 30_000 } = options;
    if (forceCloseAfter !== 'never' && !(typeof forceCloseAfter === 'number' && forceCloseAfter >= 0)) {
      throw new RangeError(
        `close: forceCloseAfter must be a number >= 0 or 'never', got ${String(forceCloseAfter)}`,
      );
    }
    if (this.state === 'open') {
      this.state = 'closing';
      if (this.failure !== undefined || this.peerGone !== undefined) {
        this.finishClose();
      } else {
        this.flushNow();
        this.transport.end((error) => {
          if (error) this.transportFailed(error);
          this.finishClose();
        });
        // With nothing queued on a plain socket the FIN cannot wait for the peer: no timer, which
        // is a timer less per connection closed.
        if (forceCloseAfter !== 'never' && this.state === 'closing' && !this.transport.endCannotStall()) {
          this.forceClose = this.scheduler.schedule(() => {
            this.forceClose = undefined;
            if (this.state === 'closing') this.abort(undefined);
          }, forceCloseAfter);
        }
      }
    }
  }

  /** @internal The connection failed beneath the writer (reset, broken pipe, torn down). */
  transportFailed(error: unknown): void {
    if (this.peerGone !== undefined) return;
    this.peerGone = error;
    this.left?.resolve();
    this.owner.peerLeft?.();
    const lost = this.buffered + this.transport.writableLength;
    this.dropBuffer();
    if (lost > 0) this.fail(new ConsumerLeftError(lost, error));
  }

  /** @internal The transport is closed: nothing more can be flushed. */
  transportClosed(): void {
    // Nothing can age any more: no timer may outlive the connection.
    this.ageCheck?.unsubscribe();
    this.ageCheck = undefined;
    this.waiting = undefined;
    if (this.bytesToWrite > 0 || this.state === 'open') this.transportFailed(new Error('connection closed'));
    if (this.state === 'closing') this.finishClose();
  }

  private writeString(text: string): void {
    // 3 bytes per UTF-16 unit bound the UTF-8 length without measuring it first.
    const bound = text.length * 3;
    if (bound === 0) return;
    if (this.buffered === 0 && bound < LARGE_WRITE) {
      const n = Buffer.byteLength(text);
      this.pending = text;
      this.buffered = n;
      this.bytesWritten += n;
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
    }
    const buffer = this.buffer ?? this.freshBuffer();
    const n = buffer.write(text, this.bufferStart + this.buffered);
    this.buffered += n;
    this.bytesWritten += n;
    this.scheduleFlush();
  }

  private writeBytes(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    if (n >= LARGE_WRITE) {
      this.flushNow();
      this.bytesWritten += n;
      this.hand(bytes, n);
      return;
    }
    if (this.pending !== undefined) this.copyPending();
    if (n > this.room()) this.makeRoom(n);
    const buffer = this.buffer ?? this.freshBuffer();
    buffer.set(bytes, this.bufferStart + this.buffered);
    this.buffered += n;
    this.bytesWritten += n;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.flushScheduler === 'microtask') flushAtEndOfTick(this);
    else this.flushScheduler.schedule(flushTask, 0, this);
  }

  /** @internal The end-of-tick flush. */
  scheduledFlush(): void {
    this.flushScheduled = false;
    this.flushNow();
  }

  /** A second write in the tick: the pending string goes into the buffer, the second after it. */
  private copyPending(): void {
    const text = this.pending!;
    const n = this.buffered;
    this.pending = undefined;
    this.buffered = 0;
    if (n > this.room()) this.makeRoom(n);
    (this.buffer ?? this.freshBuffer()).write(text, this.bufferStart);
    this.buffered = n;
  }

  /** Bytes that still fit in the buffer (a whole one when there is none yet). */
  private room(): number {
    const { buffer } = this;
    return buffer === undefined ? BUFFER_SIZE : buffer.length - this.bufferStart - this.buffered;
  }

  /** Flushes, and takes a fresh buffer if `n` bytes (at most `BUFFER_SIZE`) still do not fit. */
  private makeRoom(n: number): void {
    this.flushNow();
    if (n > this.room()) this.buffer = undefined;
  }

  private freshBuffer(): Buffer {
    this.bufferStart = 0;
    this.buffer = Buffer.allocUnsafe(BUFFER_SIZE);
    return this.buffer;
  }

  /**
   * Hands the buffered bytes to the transport: a view of the buffer, not a copy (those bytes are
   * never written over: later writes go after them, and then into a fresh buffer).
   */
  private flushNow(): void {
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
    if (buffer.length - this.bufferStart < MIN_ROOM) this.buffer = undefined;
    this.hand(chunk, n);
  }

  /** Gives `n` bytes (`chunk`, or a string's UTF-8) to the transport. */
  private hand(chunk: Uint8Array | string, n: number): void {
    this.handed += n;
    // Made on the first write only: a connection that never writes does not pay for it.
    this.afterWrite ??= (error?: Error | null) => this.written(error);
    this.transport.write(chunk, this.afterWrite);
    if (this.transport.writableLength > 0 && this.bufferAgeLimit !== 'unlimited') {
      this.waiting ??= [];
      // Kept to quote the first bytes in a BufferAgeLimitError: as bytes, to count them.
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.waiting.push({ chunk: bytes, end: this.handed, at: this.scheduler.now() });
      this.ageCheck ??= this.scheduler.schedule(checkAgeTask, this.bufferAgeLimit, this);
    }
  }

  private written(error?: Error | null): void {
    if (error) {
      this.transportFailed(error);
      return;
    }
    const reached = this.handed - this.transport.writableLength;
    // Chunks that reached the OS no longer count for the buffer-age check: drop them now, not at
    // the next check, or a socket that always holds a little (TLS) keeps every chunk until then.
    const waiting = this.waiting;
    if (waiting !== undefined) {
      while (waiting.length > 0 && waiting[0].end <= reached) waiting.shift();
      if (waiting.length === 0) this.waiting = undefined;
    }
    const waiters = this.flushWaiters;
    if (waiters === undefined) return;
    while (waiters.length > 0 && waiters[0].target <= reached) waiters.shift()!.outcome.resolve();
    if (waiters.length === 0) this.flushWaiters = undefined;
  }

  /** @internal Fails the writer if the oldest byte still waiting was handed over `bufferAgeLimit` ago. */
  checkAge(): void {
    this.ageCheck = undefined;
    const waiting = this.waiting;
    if (waiting === undefined || this.state === 'closed' || this.failure !== undefined) return;
    const reached = this.handed - this.transport.writableLength;
    while (waiting.length > 0 && waiting[0].end <= reached) waiting.shift();
    if (waiting.length === 0) {
      this.waiting = undefined;
      return;
    }
    const limit = this.bufferAgeLimit as number;
    const oldest = waiting[0];
    const age = this.scheduler.now() - oldest.at;
    if (age < limit) {
      this.ageCheck = this.scheduler.schedule(checkAgeTask, limit - age, this);
      return;
    }
    const unflushedOfOldest = oldest.end - reached;
    const first = oldest.chunk.subarray(oldest.chunk.byteLength - unflushedOfOldest);
    const quoted = Buffer.from(first.subarray(0, QUOTED_BYTES));
    this.fail(new BufferAgeLimitError(limit, this.bytesToWrite, quoted));
    this.abort(this.failure);
  }

  /** Counts a write made after the peer left: the code writing has now lost bytes. */
  private lose(bytes: number): void {
    this.bytesWritten += bytes;
    if (this.failure === undefined) this.fail(new ConsumerLeftError(bytes, this.peerGone));
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    const waiters = this.flushWaiters;
    this.flushWaiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w.outcome.reject(error);
  }

  /** Gives up at once: drops what is unflushed, and has the connection torn down. */
  private abort(failure: unknown): void {
    this.dropBuffer();
    this.state = 'closed';
    this.settleClose();
    this.owner.writerAborted(failure);
  }

  private finishClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.settleClose();
    this.owner.writerFinished(this.failure);
  }

  private settleClose(): void {
    this.forceClose?.unsubscribe();
    this.forceClose = undefined;
    this.ageCheck?.unsubscribe();
    this.ageCheck = undefined;
    this.waiting = undefined;
    this.closeFailure = this.failure;
    if (this.finished !== undefined) this.settleFinished(this.finished);
    if (this.failure !== undefined) this.owner.writerFailed?.(this.failure);
  }

  private settleFinished(finished: Outcome): void {
    if (this.closeFailure === undefined) finished.resolve();
    else finished.reject(this.closeFailure);
  }

  private dropBuffer(): void {
    this.pending = undefined;
    this.buffered = 0;
    this.bufferStart = 0;
    this.buffer = undefined;
  }
}

// Scheduler tasks get the writer as their state, so that a writer needs no closure of its own.
function flushTask(this: SchedulerAction<Writer>, writer?: Writer): void {
  writer!.scheduledFlush();
}

function checkAgeTask(this: SchedulerAction<Writer>, writer?: Writer): void {
  writer!.checkAge();
}
