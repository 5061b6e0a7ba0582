import { asyncScheduler, type Observable, type SchedulerLike } from 'rxjs';
import type { Address } from './address';
import type { ProxyInfo } from './bytes/proxy-header';
import { ConnectionAbortedError } from './errors';
import type { Socket } from './node/socket';
import { Outcome } from './stream/outcome';
import { Reader, type ReaderSource } from './stream/reader';
import type { Transport, TransportListener } from './stream/transport';
import { type BufferAgeLimit, Writer, type WriterCloseOptions, type WriterOwner } from './stream/writer';
import { checkNumber, checkTimerDelay, describe } from './validate';

/** The options every connection has, whether it was made by `connect` or accepted by a server. */
export interface ConnectionOptions {
  /**
   * How many received bytes may wait unread before the socket is paused (and the peer slowed
   * down). Default `131_072` (128 KiB).
   */
  readerBufferSize?: number;
  /**
   * How long written bytes may wait unflushed before the writer fails with a
   * `BufferAgeLimitError` and the connection is closed: milliseconds, or `'unlimited'`.
   * Default `120_000`.
   */
  bufferAgeLimit?: BufferAgeLimit;
  /** Runs every timer (buffer age, force-close). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/** @internal What the library itself adds to a connection, beyond the user's options. */
export interface ConnectionInternals {
  /**
   * Runs the writer's flush of small writes. Default: `options.scheduler`, else the end of the
   * event loop's cycle, which suits a socket: its I/O runs in real time, even inside
   * `TestScheduler.run`. A transport whose deliveries run on a scheduler passes that one.
   */
  flushScheduler?: SchedulerLike;
  /** The writer's class: `Writer`, or one that extends it to see every write. Default `Writer`. */
  writerClass?: typeof Writer;
  /** Called on every chunk received and every write made (idle timeouts). */
  onActivity?: () => void;
  /**
   * Told when the peer leaves, when the writer fails and when the socket is closed, without a
   * subscription to `consumerLeft`, `closeFinished` and `closed` (each held for as long as the
   * connection lives): for a server holding many connections, one object per connection with
   * these three methods.
   */
  monitor?: ConnectionMonitor;
}

/** @internal See {@link ConnectionInternals.monitor}. */
export interface ConnectionMonitor {
  /** The peer is gone (a reset, a broken pipe): what `writer.consumerLeft` reports. */
  peerLeft(): void;
  /** The writer finished with `failure`: what `writer.closeFinished` errors with. */
  writerFailed(failure: unknown): void;
  /** The socket is closed: what `connection.closed` reports. */
  connectionClosed(): void;
}

/** The default of `ConnectionOptions.readerBufferSize`. */
export const DEFAULT_READER_BUFFER_SIZE = 128 * 1024;
/** The default of `ConnectionOptions.bufferAgeLimit`. */
export const DEFAULT_BUFFER_AGE_LIMIT = 120_000;

/** Throws at the call when a connection option is out of range. */
export function checkConnectionOptions(where: string, options: ConnectionOptions): void {
  const { readerBufferSize, bufferAgeLimit } = options;
  if (readerBufferSize !== undefined) checkNumber(where, 'readerBufferSize', readerBufferSize, 1, true);
  if (bufferAgeLimit !== undefined && bufferAgeLimit !== 'unlimited') {
    if (typeof bufferAgeLimit !== 'number') {
      throw new TypeError(
        `${where}: bufferAgeLimit must be a number or 'unlimited', got ${describe(bufferAgeLimit)}`,
      );
    }
    checkTimerDelay(where, 'bufferAgeLimit', bufferAgeLimit);
  }
}

/**
 * A connected byte stream with its reader and writer. Close the writer first (it flushes and
 * sends FIN), then the reader; the socket is closed once both are done, or at once if either side
 * fails. `withConnection` and `Server.create` do this for you.
 *
 * ```ts
 * import { firstValueFrom } from 'rxjs';
 * import { connect, toHostAndPort } from 'rx-tcp';
 *
 * const connection = await firstValueFrom(connect(toHostAndPort('127.0.0.1', 8080)));
 * connection.writer.writeLine('hello');
 * console.log(await firstValueFrom(connection.reader.readLine()));
 * await firstValueFrom(connection.close());
 * ```
 */
export class Connection<A extends Address = Address> {
  /** The receiving side: received chunks, and pull reads. */
  readonly reader: Reader;
  /** The sending side: buffered writes, flush, close. */
  readonly writer: Writer;
  private readonly wiring: ConnectionWiring;

  /** @internal Wires `transport` to a new Reader and Writer and starts reading. */
  constructor(
    /** The socket (for an in-memory connection, a stand-in without a real Node socket). */
    readonly socket: Socket<A>,
    transport: Transport,
    options: ConnectionOptions = {},
    internals: ConnectionInternals = {},
    /**
     * What the connection's PROXY protocol header said, for a connection accepted with the
     * `proxyProtocol` option of `Server.create` or `listen`: the original client (`source`), the
     * address it connected to (`destination`), and the v2 TLVs. `null` when the header carried no
     * addresses (a load balancer's health check: v2 `LOCAL` or `AF_UNSPEC`, v1 `UNKNOWN`), and for
     * every connection made without the PROXY protocol. `socket`, `remoteAddress` and
     * `localAddress` are the load balancer's connection, whatever the header said.
     */
    readonly proxy: ProxyInfo | null = null,
  ) {
    const {
      readerBufferSize = DEFAULT_READER_BUFFER_SIZE,
      bufferAgeLimit = DEFAULT_BUFFER_AGE_LIMIT,
      scheduler = asyncScheduler,
    } = options;
    const { onActivity, writerClass = Writer } = internals;
    const flushScheduler = internals.flushScheduler ?? options.scheduler ?? 'end-of-cycle';
    const wiring = new ConnectionWiring(transport, onActivity, internals.monitor);
    this.wiring = wiring;
    this.reader = wiring.reader = new Reader(wiring, readerBufferSize);
    this.writer = wiring.writer = new writerClass(
      transport,
      wiring,
      bufferAgeLimit,
      scheduler,
      flushScheduler,
      onActivity,
    );
    transport.start(wiring);
  }

  /** Our end's address. */
  get localAddress(): A {
    return this.socket.localAddress;
  }

  /** The peer's address. */
  get remoteAddress(): A {
    return this.socket.remoteAddress;
  }

  /** Completes once the underlying socket is closed. Hot, replaying. */
  get closed(): Observable<void> {
    return this.wiring.closed();
  }

  /**
   * @internal Completes once the peer is done with the connection: its FIN arrived, it reset, or
   * the socket closed. Hot, replaying. What a pool or a persistent connection watches to know a
   * connection can serve no more, without reading from it.
   */
  get peerDone(): Observable<void> {
    return this.wiring.peerDone();
  }

  /**
   * Closes the writer (flush, FIN, bounded by `forceCloseAfter`), then the reader; completes once
   * the socket is closed, erroring with the writer's failure if it had one. Idempotent.
   */
  close(options: WriterCloseOptions = {}): Observable<void> {
    return this.wiring.close(options, true);
  }

  /**
   * @internal `close()` made by the library on its user's behalf (a handler's end, an idle
   * timeout, `withConnection`): a write made afterwards is dropped rather than thrown.
   */
  release(options: WriterCloseOptions): Observable<void> {
    return this.wiring.close(options, false);
  }

  /**
   * Tears the connection down at once with a reset, dropping unflushed bytes: the writer fails
   * with a `ConnectionAbortedError` if any were left (this side's doing, not the peer's).
   */
  destroy(): void {
    this.writer.abandon();
    this.wiring.transport.abort();
  }

  /**
   * @internal True if `error` is how this connection failed: the error the peer left with, or the
   * writer's failure, passed on unchanged by whoever saw it.
   */
  failedWith(error: unknown): boolean {
    return this.wiring.failedWith(error);
  }
}

/**
 * What a connection's reader, writer and transport tell one another, in one object rather than a
 * dozen closures: a connection held open costs its memory for as long as it lives.
 */
class ConnectionWiring implements ReaderSource, WriterOwner, TransportListener {
  reader!: Reader;
  writer!: Writer;
  private readerDone = false;
  private writerDone = false;
  private transportClosed = false;
  /** `Connection.closed`, made when first asked for. */
  private closedOutcome: Outcome | undefined;
  /** `Connection.peerDone`, made when first asked for. */
  private peerDoneOutcome: Outcome | undefined;
  /** The peer's FIN arrived, it reset, or the transport closed. */
  private peerIsDone = false;
  /** `Connection.close()`'s outcome, once called. */
  private closeOutcome: Outcome | undefined;
  /** The error the peer left with (a reset, a broken pipe), once it did. */
  private peerError: unknown;
  /** `Connection.close()` was called by the connection's user (not the library on its behalf). */
  private closedByCaller = false;

  constructor(
    readonly transport: Transport,
    private readonly onActivity: (() => void) | undefined,
    private readonly monitor: ConnectionMonitor | undefined,
  ) {}

  /** Completes once the transport is closed. */
  closed(): Observable<void> {
    this.closedOutcome ??= new Outcome();
    if (this.transportClosed) this.closedOutcome.resolve();
    return this.closedOutcome.asObservable();
  }

  /** Completes once the peer is done: FIN, reset or the transport closed. */
  peerDone(): Observable<void> {
    this.peerDoneOutcome ??= new Outcome();
    if (this.peerIsDone) this.peerDoneOutcome.resolve();
    return this.peerDoneOutcome.asObservable();
  }

  private settlePeerDone(): void {
    this.peerIsDone = true;
    this.peerDoneOutcome?.resolve();
  }

  /**
   * Closes the writer, then (once it is done) the reader, and completes once the transport is
   * closed; errors with the writer's failure. Followed through the writer's and the transport's
   * callbacks rather than subscriptions.
   */
  close(options: WriterCloseOptions, byCaller: boolean): Observable<void> {
    this.writer.shut(options, byCaller); // throws at once on bad options, before anything changes
    if (byCaller) this.closedByCaller = true;
    if (this.closeOutcome === undefined) {
      this.closeOutcome = new Outcome();
      if (this.writerDone) this.afterWriter();
    }
    return this.closeOutcome.asObservable();
  }

  failedWith(error: unknown): boolean {
    return error !== undefined && (error === this.peerError || error === this.writer.failure);
  }

  /** `close()` was called and the writer is done: closes the reader; the close waits for the transport. */
  private afterWriter(): void {
    this.reader.shut(this.closedByCaller);
    if (this.transportClosed) this.settleClose();
  }

  private settleClose(): void {
    const { failure } = this.writer;
    if (failure === undefined) this.closeOutcome!.resolve();
    else this.closeOutcome!.reject(failure);
  }

  // ReaderSource
  pause(): void {
    this.transport.pause();
  }

  resume(): void {
    this.transport.resume();
  }

  readerClosed(): boolean {
    this.readerDone = true;
    this.destroyIfDone();
    return this.writerDone;
  }

  // WriterOwner
  writerClosed(): void {
    this.writerDone = true;
    this.destroyIfDone();
    if (this.closeOutcome !== undefined) this.afterWriter();
  }

  peerLeft(error: unknown): void {
    this.peerError ??= error;
    this.monitor?.peerLeft();
  }

  writerFailed(failure: unknown): void {
    this.writerDone = true;
    this.monitor?.writerFailed(failure);
    // A reader still reading learns why: the peer's own error if it left, else the writer's.
    if (this.readerOpen()) this.reader.fail(this.peerError ?? failure);
    this.transport.abort();
    if (this.closeOutcome !== undefined) this.afterWriter();
  }

  // TransportListener
  onData(chunk: Buffer): void {
    if (this.onActivity !== undefined) this.onActivity();
    this.reader.push(chunk);
  }

  onEnd(): void {
    this.reader.end();
    this.destroyIfDone();
    this.settlePeerDone();
  }

  onError(error: Error): void {
    this.peerError ??= error;
    this.reader.fail(error);
    this.writer.peerLeft(error);
    this.settlePeerDone();
  }

  onClose(): void {
    // A reset seen first by a write is still a reset to the reader, not a close of ours. An error
    // is built only when a reader still reads: capturing its stack trace is not free.
    if (this.readerOpen()) this.reader.fail(this.peerError ?? new ConnectionAbortedError());
    this.writer.transportClosed();
    this.transportClosed = true;
    this.closedOutcome?.resolve();
    this.settlePeerDone();
    this.monitor?.connectionClosed();
    // close() was called, the writer is done and the reader closed: the close waited for this.
    if (this.closeOutcome !== undefined && this.writerDone && this.readerDone) this.settleClose();
  }

  /** True while the reader may still deliver bytes (it did not end, fail or close). */
  private readerOpen(): boolean {
    return !this.reader.isClosed && !this.reader.ended;
  }

  /** Both directions are finished: release the descriptor. */
  private destroyIfDone(): void {
    if (this.writerDone && (this.readerDone || this.reader.ended)) this.transport.destroy();
  }
}
