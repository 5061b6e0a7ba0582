import {
  asapScheduler,
  asyncScheduler,
  type Observable,
  type Observer,
  type SchedulerAction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { BufferAgeLimitError, ConnectionAbortedError, ConsumerLeftError, WriterClosedError } from '../errors';
import { describe } from '../validate';
import { flushAtEndOfCycle } from './end-of-cycle';
import { Outcome } from './outcome';
import type { Transport } from './transport';

/** How long a close waits for the writer to flush before it forces the connection closed: 30 s, as in Async. */
export const CLOSE_FORCE_AFTER = 30_000;

/** The close options of `withConnection` and a server's closes: one object, not one per close. */
export const CLOSE_AFTER_USE: WriterCloseOptions = Object.freeze({ forceCloseAfter: CLOSE_FORCE_AFTER });

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
  /** The writer is `closed`: FIN sent, or nothing was left to send. */
  writerClosed(): void;
  /** The writer `failed`: the connection is torn down (at once; it may be gone already). */
  writerFailed(failure: unknown): void;
  /** The peer is gone (a reset, a broken pipe, the socket closed): what `consumerLeft` reports. */
  peerLeft(error: unknown): void;
}

/** @internal Something that writes into a writer for as long as it may: a `transfer`. */
export interface WriterWatcher {
  /** The writer takes no more bytes: closed (`failure` undefined) or unable to send (why). */
  writerStopped(failure: unknown): void;
}

/**
 * Where a writer is in its life. Each state is entered in one place, the writer's `enter`, and the
 * two terminal ones settle every waiter there.
 *
 * - `open`: writes are sent.
 * - `gone`: the peer left (reset, broken pipe, socket closed) and nothing written was lost; a
 *   write now would be, and fails the writer.
 * - `closing`: `close()` was called: flushing, then FIN.
 * - `closed`: FIN sent, or the connection ended with nothing lost. Terminal.
 * - `failed`: written bytes were lost, or the writer was torn down; `failure` says why. Terminal.
 */
export type WriterState = 'open' | 'gone' | 'closing' | 'closed' | 'failed';

/** The transitions allowed from each state; any other is ignored (a terminal state stays). */
const NEXT: Readonly<Record<WriterState, readonly WriterState[]>> = {
  open: ['gone', 'closing', 'failed'],
  gone: ['closed', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};

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
 * `source$.subscribe(writer)` pipes a stream into the socket. Small writes are copied
 * into one buffer and handed to the operating system together once the current cycle of work is
 * done (as Async flushes at the end of a scheduler cycle), or when the buffer fills: every write
 * made while handling one batch of input, `await` continuations and microtasks included, leaves in
 * one system call, in the same turn of the event loop. That is where most of the speed of a chatty
 * protocol comes from. A `Uint8Array` smaller than
 * 16 KiB is copied, so the caller may reuse it as soon as `write` returns; a larger one is passed
 * through without a copy and must not be changed until `flushed()` emits. No byte is reordered or
 * lost.
 *
 * One life, one ending: a writer is open, then closing (after `close()`), then closed; or it fails
 * once, with one error (bytes lost to a peer that left, `bufferAgeLimit`, a forced close,
 * `error()`). Every `flushed()`, `close()`, `closeFinished`, `consumerLeft` and `transfer` into it
 * settles on every path. `write` throws only after your own `close()`/`complete()`; after a
 * failure, or a close made for you (a server's idle timeout, `withConnection` ending), it drops
 * the bytes and counts them in `bytesLost`, and the failure is what `flushed()` and `close()`
 * report.
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
  /** Bytes given to `write` so far (those dropped included). */
  bytesWritten = 0;

  private life: WriterState = 'open';
  /** The caller closed it (`close`, `complete`, `error`): a write now is the caller's bug. */
  private closedByCaller = false;
  /** Why the writer failed, once `life` is `'failed'`. */
  private failure: unknown;
  /** The error that told us the peer is gone, once it is. */
  private peerError: unknown;
  /** The transport is closed: nothing more is sent, nobody more can leave. */
  private transportDone = false;
  /** Where each write handed to the transport ends (in `handed`), oldest first, until its callback. */
  private ends: number[] | undefined;
  /** Bytes written that will never reach the operating system. */
  private lost = 0;
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
  /** Bytes handed to the transport so far. */
  private handed = 0;
  /**
   * Bytes the transport confirmed, through its write callbacks, reached the OS. What is lost when
   * the peer leaves is counted from it, never from Node's `writableLength`, which Node zeroes when
   * it destroys the socket.
   */
  private reached = 0;
  private flushScheduled = false;
  private flushWaiters: { target: number; outcome: Outcome }[] | undefined;
  private afterWrite: ((error?: Error | null) => void) | undefined;
  private waiting: Waiting[] | undefined;
  private ageCheck: Subscription | undefined;
  private forceClose: Subscription | undefined;
  /** When `forceClose` is due, by the scheduler's clock. */
  private forceAt = 0;
  /** `closeFinished`, made when first asked for: most writers are closed without anyone asking. */
  private finished: Outcome | undefined;
  private left: Outcome | undefined;
  private watchers: WriterWatcher[] | undefined;

  /** @internal */
  constructor(
    private readonly transport: Transport,
    private readonly owner: WriterOwner,
    private readonly bufferAgeLimit: BufferAgeLimit,
    /** Runs the buffer-age and force-close timers. */
    private readonly scheduler: SchedulerLike = asyncScheduler,
    /** Runs the flush of small writes: a scheduler, or at the end of the event loop's cycle. */
    private readonly flushScheduler: SchedulerLike | 'end-of-cycle' = asapScheduler,
    /** @internal Sees every write as it is made (`rx-tcp/testing`, idle timeouts). */
    private readonly tap?: (data: string | Uint8Array) => void,
  ) {}

  /** Where the writer is in its life: see {@link WriterState}. */
  get state(): WriterState {
    return this.life;
  }

  /** Bytes written that have not reached the operating system yet (0 once closed or failed). */
  get bytesToWrite(): number {
    if (this.life === 'closed' || this.life === 'failed') return 0;
    return this.unconfirmed();
  }

  /** Bytes written that never reached the operating system and never will. */
  get bytesLost(): number {
    return this.lost;
  }

  /** True once `close()` or `complete()` was called (by you or for you), or the writer failed. */
  get isClosed(): boolean {
    return this.life !== 'open' && this.life !== 'gone';
  }

  /**
   * Emits (and completes) when the peer is gone: a reset or a broken pipe. Hot, replaying. That
   * alone is not an error: writing afterwards is, through `flushed()` and `close()`. Completes
   * without a value once the connection is closed without the peer leaving (a clean close, or
   * this side's own teardown): nothing can leave any more.
   */
  get consumerLeft(): Observable<void> {
    this.left ??= new Outcome();
    if (this.peerError !== undefined) this.left.resolve();
    else if (this.transportDone) this.left.complete();
    return this.left.asObservable();
  }

  /** Completes when the writer is closed (FIN sent), or errors with why it failed. Hot, replaying. */
  get closeFinished(): Observable<void> {
    if (this.finished === undefined) {
      this.finished = new Outcome();
      this.settleFinished();
    }
    return this.finished.asObservable();
  }

  /**
   * Queues `data` (a string is written as UTF-8) and returns at once. After a failure, or a close
   * made for you, the bytes are dropped and counted in `bytesLost`.
   * @throws WriterClosedError after your own `close()`, `complete()` or `error()`: a bug of the caller.
   */
  write(data: string | Uint8Array): void {
    if (this.closedByCaller) throw new WriterClosedError();
    if (this.tap !== undefined) this.tap(data);
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`write: data must be a string or a Uint8Array, got ${describe(data)}`);
    }
    if (this.life !== 'open') {
      this.drop(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
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

  /**
   * `Observer.error`: aborts: drops what is unflushed and tears the connection down; the writer
   * fails with a `ConnectionAbortedError` whose `cause` is `reason`.
   */
  error(reason: unknown): void {
    this.closedByCaller = true;
    this.enter('failed', new ConnectionAbortedError(reason, 'the writer was aborted by its source'));
  }

  /**
   * Emits once every byte written before the call reached the operating system; errors if the
   * writer fails first. Hot: the flush happens whether or not it is subscribed.
   */
  flushed(): Observable<void> {
    const outcome = new Outcome();
    if (this.life === 'failed') {
      outcome.reject(this.failure);
    } else {
      this.flushNow();
      const target = this.handed;
      if (this.reached >= target) outcome.resolve();
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
   * @param options `forceCloseAfter` (default `30_000` ms): past it the connection is torn down and
   *   the writer fails with a `ConnectionAbortedError`.
   */
  close(options: WriterCloseOptions = {}): Observable<void> {
    this.shut(options, true);
    return this.closeFinished;
  }

  /**
   * @internal `close()` without its result. `byCaller`: the writer's user closed it (a write then
   * throws); otherwise the library closes it on the user's behalf (a write then drops).
   */
  shut(options: WriterCloseOptions, byCaller = false): void {
    const { forceCloseAfter = CLOSE_FORCE_AFTER } = options;
    if (forceCloseAfter !== 'never' && !(typeof forceCloseAfter === 'number' && forceCloseAfter >= 0)) {
      throw new RangeError(
        `close: forceCloseAfter must be a number >= 0 or 'never', got ${String(forceCloseAfter)}`,
      );
    }
    if (byCaller) this.closedByCaller = true;
    if (this.life === 'gone') {
      this.enter('closed');
      return;
    }
    if (this.life === 'open') {
      this.enter('closing');
      this.flushNow();
      this.transport.end((error) => {
        if (error) this.transportFailed(error);
        else this.enter('closed');
      });
    }
    // With nothing queued on a plain socket the FIN cannot wait for the peer: no timer, which
    // is a timer less per connection closed. A later close with a shorter bound brings it forward.
    if (forceCloseAfter !== 'never' && this.state === 'closing' && !this.transport.endCannotStall()) {
      const at = this.scheduler.now() + forceCloseAfter;
      if (this.forceClose !== undefined && this.forceAt <= at) return;
      this.forceClose?.unsubscribe();
      this.forceAt = at;
      this.forceClose = this.scheduler.schedule(forceCloseTask, forceCloseAfter, this);
    }
  }

  /** @internal The close took longer than `forceCloseAfter`: tear the connection down. */
  forceClosed(): void {
    this.forceClose = undefined;
    const unsent = this.bytesToWrite;
    this.enter(
      'failed',
      new ConnectionAbortedError(undefined, `the writer was force-closed with ${unsent} bytes unsent`),
    );
  }

  /** @internal The connection failed beneath the writer (reset, broken pipe, torn down). */
  transportFailed(error: unknown): void {
    if (this.peerError !== undefined) return;
    this.peerError = error;
    this.left?.resolve();
    const unsent = this.unconfirmed();
    if (unsent > 0) this.enter('failed', new ConsumerLeftError(unsent, error));
    else this.enter(this.life === 'closing' ? 'closed' : 'gone');
    // Told last: the owner may tear the connection down, which finds the writer settled already.
    this.owner.peerLeft(error);
  }

  /** @internal The transport is closed: nothing more can be sent, and no callback will come. */
  transportClosed(): void {
    this.transportDone = true;
    if (this.peerError === undefined) this.left?.complete();
    // Closed with no error: by this side (a destroy), not by the peer, whose leaving comes first.
    this.abandon();
  }

  /**
   * @internal This side tears the connection down (`Connection.destroy()`): what is unsent is
   * lost, by our doing, not the peer's (a `ConnectionAbortedError`; `consumerLeft` does not emit).
   */
  abandon(): void {
    if (this.life !== 'open' && this.life !== 'closing') return;
    const unsent = this.unconfirmed();
    if (unsent > 0) this.enter('failed', closedUnder(unsent));
    else this.enter(this.life === 'closing' ? 'closed' : 'gone');
  }

  /** @internal Tells `watcher` when the writer stops taking bytes: now, if it has already. */
  watch(watcher: WriterWatcher): void {
    if (this.life !== 'open') {
      watcher.writerStopped(this.stopReason());
      return;
    }
    this.watchers ??= [];
    this.watchers.push(watcher);
  }

  /** @internal Stops telling `watcher`. */
  unwatch(watcher: WriterWatcher): void {
    const { watchers } = this;
    const at = watchers === undefined ? -1 : watchers.indexOf(watcher);
    if (at !== -1) watchers!.splice(at, 1);
  }

  /**
   * The one place where the writer changes state (see {@link WriterState}); a transition that
   * {@link NEXT} does not allow is ignored. Entering a terminal state settles every waiter.
   */
  private enter(next: WriterState, failure?: unknown): void {
    if (!NEXT[this.life].includes(next)) return;
    this.life = next;
    switch (next) {
      case 'gone':
        // Nothing waits unsent (or the writer would have failed), so nothing can age.
        this.stopTimers();
        this.stopWatchers();
        return;
      case 'closing':
        this.stopWatchers();
        return;
      case 'closed':
        this.stopTimers();
        this.dropBuffer();
        this.owner.writerClosed();
        this.settleWaiters();
        this.stopWatchers();
        return;
      case 'failed':
        this.failure = failure;
        this.lost += this.unconfirmed();
        this.stopTimers();
        this.dropBuffer();
        this.owner.writerFailed(failure);
        this.settleWaiters();
        this.stopWatchers();
        return;
    }
  }

  /** Written bytes not confirmed to have reached the OS: those buffered and those handed over. */
  private unconfirmed(): number {
    return this.buffered + (this.handed - this.reached);
  }

  /** A write the writer cannot send: counted, and once the connection is gone, a failure. */
  private drop(bytes: number): void {
    this.bytesWritten += bytes;
    this.lost += bytes;
    if (this.life === 'gone' && bytes > 0) {
      this.enter(
        'failed',
        this.peerError === undefined ? closedUnder(bytes) : new ConsumerLeftError(bytes, this.peerError),
      );
    }
  }

  private stopTimers(): void {
    this.forceClose?.unsubscribe();
    this.forceClose = undefined;
    this.ageCheck?.unsubscribe();
    this.ageCheck = undefined;
    this.waiting = undefined;
  }

  /** In a terminal state: every `flushed()` and `closeFinished` waiting gets the ending. */
  private settleWaiters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = undefined;
    if (waiters !== undefined) {
      for (const { outcome } of waiters) {
        if (this.life === 'failed') outcome.reject(this.failure);
        else outcome.resolve();
      }
    }
    this.settleFinished();
  }

  private settleFinished(): void {
    if (this.finished === undefined) return;
    if (this.life === 'closed') this.finished.resolve();
    else if (this.life === 'failed') this.finished.reject(this.failure);
  }

  private stopWatchers(): void {
    const { watchers } = this;
    if (watchers === undefined) return;
    this.watchers = undefined;
    const reason = this.stopReason();
    for (const watcher of watchers) watcher.writerStopped(reason);
  }

  /** Why a writer no longer open takes no bytes: `undefined` when it was closed. */
  private stopReason(): unknown {
    if (this.life === 'failed') return this.failure;
    if (this.life !== 'gone') return undefined;
    return this.peerError === undefined ? closedUnder(0) : new ConsumerLeftError(0, this.peerError);
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
      if (this.life !== 'open') {
        this.drop(Buffer.byteLength(text)); // the flush failed
        return;
      }
    }
    const buffer = this.buffer ?? this.freshBuffer(bound);
    const n = buffer.write(text, this.bufferStart + this.buffered);
    this.buffered += n;
    this.bytesWritten += n;
    this.scheduleFlush();
  }

  private writeBytes(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    if (n === 0) return;
    if (this.buffered === 0 && n < LARGE_WRITE) {
      this.pending = Buffer.from(bytes); // a copy: the caller may reuse `bytes` once we return
      this.buffered = n;
      this.bytesWritten += n;
      this.scheduleFlush();
      return;
    }
    if (n >= LARGE_WRITE) {
      this.flushNow();
      if (this.life !== 'open') {
        this.drop(n); // the flush failed
        return;
      }
      this.bytesWritten += n;
      this.hand(bytes, n);
      return;
    }
    if (this.pending !== undefined) this.copyPending();
    if (n > this.room()) {
      this.makeRoom(n);
      if (this.life !== 'open') {
        this.drop(n); // the flush failed
        return;
      }
    }
    const buffer = this.buffer ?? this.freshBuffer(n);
    buffer.set(bytes, this.bufferStart + this.buffered);
    this.buffered += n;
    this.bytesWritten += n;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.flushScheduler === 'end-of-cycle') flushAtEndOfCycle(this);
    else this.flushScheduler.schedule(flushTask, 0, this);
  }

  /**
   * @internal The scheduled flush, at the end of the cycle. The buffer is let go once the OS took
   * everything; while bytes wait in the socket it is kept, for the next cycles' bytes to go on in
   * it: each new buffer would be held whole by the few bytes of it waiting there.
   */
  scheduledFlush(): void {
    this.flushScheduled = false;
    this.flushNow();
    if (this.transport.writableLength === 0) this.buffer = undefined;
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
    this.flushNow();
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
    if (buffer.length - this.bufferStart < buffer.length >> MIN_ROOM_SHIFT) this.buffer = undefined;
    this.hand(chunk, n);
  }

  /** Gives `n` bytes (`chunk`, or a string's UTF-8) to the transport. */
  private hand(chunk: Uint8Array | string, n: number): void {
    this.handed += n;
    // Made on the first write only: a connection that never writes does not pay for it.
    this.afterWrite ??= (error?: Error | null) => this.written(error);
    this.ends ??= [];
    this.ends.push(this.handed);
    this.transport.write(chunk, this.afterWrite);
    if (this.life !== 'open' && this.life !== 'closing') return; // the write failed at once
    if (this.transport.writableLength > 0 && this.bufferAgeLimit !== 'unlimited') {
      this.waiting ??= [];
      // Kept to quote the first bytes in a BufferAgeLimitError: as bytes, to count them.
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.waiting.push({ chunk: bytes, end: this.handed, at: this.scheduler.now() });
      this.ageCheck ??= this.scheduler.schedule(checkAgeTask, this.bufferAgeLimit, this);
    }
  }

  /** A write callback: in order, one per `transport.write`. */
  private written(error?: Error | null): void {
    // Once the peer is gone or the writer ended, a late callback changes nothing: Node even reports
    // success for a write still in flight when it destroyed the socket.
    if (this.peerError !== undefined || (this.life !== 'open' && this.life !== 'closing')) return;
    if (error) {
      this.transportFailed(error);
      return;
    }
    // One callback per write, in order: exact, whatever the transport counts (Node counts a queued
    // string in UTF-16 units, not bytes).
    const reached = this.ends!.shift()!;
    this.reached = reached;
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
    // A waiter's subscriber may have written and flushed meanwhile, and so replaced the list.
    if (waiters.length === 0 && this.flushWaiters === waiters) this.flushWaiters = undefined;
  }

  /** @internal Fails the writer if the oldest byte still waiting was handed over `bufferAgeLimit` ago. */
  checkAge(): void {
    this.ageCheck = undefined;
    const waiting = this.waiting;
    if (waiting === undefined || (this.life !== 'open' && this.life !== 'closing')) return;
    const { reached } = this;
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
    this.enter('failed', new BufferAgeLimitError(limit, this.bytesToWrite, quoted));
  }

  private dropBuffer(): void {
    this.pending = undefined;
    this.buffered = 0;
    this.bufferStart = 0;
    this.buffer = undefined;
  }
}

/** The failure of a writer whose connection this side closed with `bytes` written and unsent. */
function closedUnder(bytes: number): ConnectionAbortedError {
  return new ConnectionAbortedError(
    undefined,
    `the connection was closed with ${bytes} written bytes unsent`,
  );
}

// Scheduler tasks get the writer as their state, so that a writer needs no closure of its own.
function flushTask(this: SchedulerAction<Writer>, writer?: Writer): void {
  writer!.scheduledFlush();
}

function checkAgeTask(this: SchedulerAction<Writer>, writer?: Writer): void {
  writer!.checkAge();
}

function forceCloseTask(this: SchedulerAction<Writer>, writer?: Writer): void {
  writer!.forceClosed();
}
