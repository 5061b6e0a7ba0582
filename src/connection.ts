import { asapScheduler, asyncScheduler, type Observable, of, type SchedulerLike } from 'rxjs';
import type { Address } from './address';
import { ConnectionAbortedError } from './errors';
import { Outcome } from './internal/outcome';
import type { Transport } from './internal/transport';
import { checkNumber, describe } from './internal/validate';
import { Reader } from './reader';
import type { Socket } from './socket';
import { type BufferAgeLimit, Writer, type WriterCloseOptions } from './writer';

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
  /** Runs the writer's end-of-tick flush. Default: `options.scheduler`, else `asapScheduler`. */
  flushScheduler?: SchedulerLike;
  /** Sees every write as it is made (`rx-tcp/testing`). */
  tap?: (data: string | Uint8Array) => void;
  /** Called on every chunk received and every write made (idle timeouts). */
  onActivity?: () => void;
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
    checkNumber(where, 'bufferAgeLimit', bufferAgeLimit, 0);
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
  readonly reader: Reader;
  readonly writer: Writer;
  private readonly closedOutcome = new Outcome();
  private closing: Outcome | undefined;
  private readerDone = false;
  private writerDone = false;

  /** @internal Wires `transport` to a new Reader and Writer and starts reading. */
  constructor(
    /** The socket (for an in-memory connection, a stand-in without a real Node socket). */
    readonly socket: Socket<A>,
    private readonly transport: Transport,
    options: ConnectionOptions = {},
    internals: ConnectionInternals = {},
  ) {
    const { flushScheduler = options.scheduler ?? asapScheduler, tap, onActivity } = internals;
    const {
      readerBufferSize = DEFAULT_READER_BUFFER_SIZE,
      bufferAgeLimit = DEFAULT_BUFFER_AGE_LIMIT,
      scheduler = asyncScheduler,
    } = options;
    this.reader = new Reader(
      {
        pause: () => transport.pause(),
        resume: () => transport.resume(),
        readerClosed: () => this.readerClosed(),
      },
      readerBufferSize,
    );
    const onData =
      onActivity === undefined
        ? (chunk: Buffer) => this.reader.push(chunk)
        : (chunk: Buffer) => {
            onActivity();
            this.reader.push(chunk);
          };
    this.writer = new Writer(
      transport,
      {
        writerFinished: () => {
          this.writerDone = true;
          this.destroyIfDone();
        },
        writerAborted: (failure) => {
          this.writerDone = true;
          this.reader.fail(failure ?? new ConnectionAbortedError());
          transport.abort();
        },
      },
      bufferAgeLimit,
      scheduler,
      flushScheduler,
      onActivity === undefined || tap === undefined
        ? (tap ?? onActivity)
        : (data) => {
            onActivity();
            tap(data);
          },
    );
    transport.start({
      onData,
      onEnd: () => {
        this.reader.end();
        this.destroyIfDone();
      },
      onError: (error) => {
        this.reader.fail(error);
        this.writer.transportFailed(error);
      },
      onClose: () => {
        this.reader.fail(new ConnectionAbortedError());
        this.writer.transportClosed();
        this.closedOutcome.resolve();
      },
    });
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
    return this.closedOutcome.asObservable();
  }

  /**
   * Closes the writer (flush, FIN, bounded by `forceCloseAfter`), then the reader; completes once
   * the socket is closed, erroring with the writer's failure if it had one. Idempotent.
   */
  close(options: WriterCloseOptions = {}): Observable<void> {
    if (this.closing === undefined) {
      const closing = new Outcome();
      this.closing = closing;
      const afterWriter = (failure?: unknown) => {
        this.reader.close();
        this.closed.subscribe(() => (failure === undefined ? closing.resolve() : closing.reject(failure)));
      };
      this.writer.close(options).subscribe({ complete: () => afterWriter(), error: afterWriter });
    }
    return this.closing.asObservable();
  }

  /** Tears the connection down at once with a reset, dropping unflushed bytes. */
  destroy(): void {
    this.transport.abort();
  }

  private readerClosed(): Observable<void> {
    this.readerDone = true;
    this.destroyIfDone();
    return this.writerDone ? this.closed : of(undefined);
  }

  /** Both directions are finished: release the descriptor. */
  private destroyIfDone(): void {
    if (this.writerDone && (this.readerDone || this.reader.ended)) this.transport.destroy();
  }
}
