import type { Observable, Observer, SchedulerLike } from 'rxjs';
import {
  type BufferAgeLimitError,
  ConnectionAbortedError,
  ConsumerLeftError,
  WriterClosedError,
} from '../errors';
import { describe } from '../validate';
import type { BufferAgeLimit } from './buffer-age';
import { ForceClose, forceCloseAfter, type WriterCloseOptions } from './force-close';
import { Outcome } from './outcome';
import type { Transport } from './transport';
import { WriteBuffer } from './write-buffer';
import type { WriterState } from './writer-state';

export type { BufferAgeLimit } from './buffer-age';
export { CLOSE_AFTER_USE, CLOSE_FORCE_AFTER, type WriterCloseOptions } from './force-close';
export type { WriterState } from './writer-state';

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

/** The transitions allowed from each state; any other is ignored (a terminal state stays). */
const NEXT: Readonly<Record<WriterState, readonly WriterState[]>> = {
  open: ['gone', 'closing', 'failed'],
  gone: ['closed', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};

/** `writeLine` joins a text shorter than this with its `\n` before copying it: one copy, not two. */
const JOIN_LINE_BELOW = 1024;
const NEWLINE = Buffer.from('\n');

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
  protected closedByCaller = false;
  /** Why the writer failed, once `life` is `'failed'`. */
  private whyFailed: unknown;
  /** The error that told us the peer left, once it did. */
  private peerError: unknown;
  /** The transport is closed: nothing more is sent, nobody more can leave. */
  private transportDone = false;
  /** Bytes written that will never reach the operating system. */
  private lost = 0;
  /** What was written and is not confirmed yet: coalesced, handed to the transport, counted. */
  private readonly outgoing: WriteBuffer;
  /** Made at the first close that needs a bound: most closes have nothing left to wait for. */
  private forceClose: ForceClose | undefined;
  /** Made when first asked for: most writers are closed without anyone asking. */
  private closeFinishedOutcome: Outcome | undefined;
  private consumerLeftOutcome: Outcome | undefined;
  private watchers: WriterWatcher[] | undefined;

  /** @internal */
  constructor(
    private readonly transport: Transport,
    private readonly owner: WriterOwner,
    bufferAgeLimit: BufferAgeLimit,
    /** Runs the buffer-age and force-close timers. */
    private readonly scheduler: SchedulerLike,
    /** Runs the flush of small writes: a scheduler, or at the end of the event loop's cycle. */
    flushScheduler: SchedulerLike | 'end-of-cycle',
    /** Told of every write as it is made (idle timeouts). */
    private readonly onActivity?: () => void,
  ) {
    this.outgoing = new WriteBuffer(this, transport, bufferAgeLimit, scheduler, flushScheduler);
  }

  /** Where the writer is in its life: see {@link WriterState}. */
  get state(): WriterState {
    return this.life;
  }

  /** Bytes written that have not reached the operating system yet (0 once closed or failed). */
  get bytesToWrite(): number {
    if (this.life === 'closed' || this.life === 'failed') return 0;
    return this.outgoing.unconfirmed();
  }

  /** Bytes written that never reached the operating system and never will. */
  get bytesLost(): number {
    return this.lost;
  }

  /** True once `close()` or `complete()` was called (by you or for you), or the writer failed. */
  get isClosed(): boolean {
    return this.life !== 'open' && this.life !== 'gone';
  }

  /** @internal Why the writer failed; `undefined` unless it did. */
  get failure(): unknown {
    return this.whyFailed;
  }

  /**
   * Emits (and completes) when the peer is gone: a reset or a broken pipe. Hot, replaying. That
   * alone is not an error: writing afterwards is, through `flushed()` and `close()`. Completes
   * without a value once the connection is closed without the peer leaving (a clean close, or
   * this side's own teardown): nothing can leave any more.
   */
  get consumerLeft(): Observable<void> {
    this.consumerLeftOutcome ??= new Outcome();
    this.settleConsumerLeft();
    return this.consumerLeftOutcome.asObservable();
  }

  /** Completes when the writer is closed (FIN sent), or errors with why it failed. Hot, replaying. */
  get closeFinished(): Observable<void> {
    this.closeFinishedOutcome ??= new Outcome();
    this.settleCloseFinished();
    return this.closeFinishedOutcome.asObservable();
  }

  /**
   * Queues `data` (a string is written as UTF-8) and returns at once. After a failure, or a close
   * made for you, the bytes are dropped and counted in `bytesLost`.
   * @throws WriterClosedError after your own `close()`, `complete()` or `error()`: a bug of the caller.
   */
  write(data: string | Uint8Array): void {
    if (this.closedByCaller) throw new WriterClosedError();
    if (this.onActivity !== undefined) this.onActivity();
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`write: data must be a string or a Uint8Array, got ${describe(data)}`);
    }
    if (this.life !== 'open') {
      this.drop(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
      return;
    }
    if (typeof data === 'string') this.outgoing.writeString(data);
    else this.outgoing.writeBytes(data);
  }

  /** Writes `text` and a `\n`. */
  writeLine(text: string): void {
    if (text.length < JOIN_LINE_BELOW) {
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
    return this.outgoing.flushed();
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
    const after = forceCloseAfter(options); // throws on a bad option, before anything changes
    if (byCaller) this.closedByCaller = true;
    if (this.life === 'gone') {
      this.enter('closed');
      return;
    }
    if (this.life === 'open') {
      this.enter('closing');
      this.outgoing.flush();
      this.transport.end((error) => {
        if (error) this.peerLeft(error);
        else this.enter('closed');
      });
    }
    // A FIN that the peer cannot hold up needs no bound, and the connection no timer.
    if (after !== 'never' && this.life === 'closing' && !this.transport.endCannotStall()) {
      this.forceClose ??= new ForceClose(this, this.scheduler);
      this.forceClose.bound(after);
    }
  }

  /** @internal A timer ran out (`forceCloseAfter`, `bufferAgeLimit`): the writer fails with `failure`. */
  timedOut(failure: ConnectionAbortedError | BufferAgeLimitError): void {
    this.enter('failed', failure);
  }

  /** @internal The peer left: the connection failed beneath the writer (reset, broken pipe, torn down). */
  peerLeft(error: unknown): void {
    if (this.peerError !== undefined) return;
    this.peerError = error;
    this.settleConsumerLeft();
    const unsent = this.outgoing.unconfirmed();
    if (unsent > 0) this.enter('failed', new ConsumerLeftError(unsent, error));
    else this.enter(this.life === 'closing' ? 'closed' : 'gone');
    // Told last: the owner may tear the connection down, which finds the writer settled already.
    this.owner.peerLeft(error);
  }

  /** @internal The transport is closed: nothing more can be sent, and no callback will come. */
  transportClosed(): void {
    this.transportDone = true;
    this.settleConsumerLeft();
    // Closed with no error: by this side (a destroy), not by the peer, whose leaving comes first.
    this.abandon();
  }

  /**
   * @internal This side tears the connection down (`Connection.destroy()`): what is unsent is
   * lost, by our doing, not the peer's (a `ConnectionAbortedError`; `consumerLeft` does not emit).
   */
  abandon(): void {
    if (this.life !== 'open' && this.life !== 'closing') return;
    const unsent = this.outgoing.unconfirmed();
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

  /** @internal A write the writer cannot send: counted, and once the connection is gone, a failure. */
  drop(bytes: number): void {
    this.bytesWritten += bytes;
    this.lost += bytes;
    if (this.life === 'gone' && bytes > 0) {
      this.enter(
        'failed',
        this.peerError === undefined ? closedUnder(bytes) : new ConsumerLeftError(bytes, this.peerError),
      );
    }
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
        this.outgoing.clear();
        this.owner.writerClosed();
        this.settleWaiters();
        this.stopWatchers();
        return;
      case 'failed':
        this.whyFailed = failure;
        this.lost += this.outgoing.unconfirmed();
        this.stopTimers();
        this.outgoing.clear();
        this.owner.writerFailed(failure);
        this.settleWaiters();
        this.stopWatchers();
        return;
    }
  }

  private stopTimers(): void {
    this.forceClose?.stop();
    this.outgoing.stopAging();
  }

  /** In a terminal state: every `flushed()` and `closeFinished` waiting gets the ending. */
  private settleWaiters(): void {
    this.outgoing.settleFlushed(this.life === 'failed', this.whyFailed);
    this.settleCloseFinished();
  }

  /** `closeFinished`, if asked for, once the writer is closed or failed. */
  private settleCloseFinished(): void {
    const outcome = this.closeFinishedOutcome;
    if (outcome === undefined) return;
    if (this.life === 'closed') outcome.resolve();
    else if (this.life === 'failed') outcome.reject(this.whyFailed);
  }

  /** `consumerLeft`, if asked for, once the peer left, or once it no longer can. */
  private settleConsumerLeft(): void {
    const outcome = this.consumerLeftOutcome;
    if (outcome === undefined) return;
    if (this.peerError !== undefined) outcome.resolve();
    else if (this.transportDone) outcome.complete();
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
    if (this.life === 'failed') return this.whyFailed;
    if (this.life !== 'gone') return undefined;
    return this.peerError === undefined ? closedUnder(0) : new ConsumerLeftError(0, this.peerError);
  }
}

/** The failure of a writer whose connection this side closed with `bytes` written and unsent. */
function closedUnder(bytes: number): ConnectionAbortedError {
  return new ConnectionAbortedError(
    undefined,
    `the connection was closed with ${bytes} written bytes unsent`,
  );
}
