import type * as net from 'node:net';
import type * as tls from 'node:tls';
import {
  asyncScheduler,
  Observable,
  type ObservableInput,
  type SchedulerAction,
  type SchedulerLike,
  Subject,
  type Subscription,
  throwError,
} from 'rxjs';
import { type Address, inetAddress } from '../address';
import { type ConnectionInternals, type ConnectionOptions, checkConnectionOptions } from '../connection';
import { listenSockets } from '../node/listen-sockets';
import { Outcome } from '../stream/outcome';
import type { Reader } from '../stream/reader';
import type { Writer, WriterCloseOptions } from '../stream/writer';
import { CLOSE_AFTER_USE, CLOSE_FORCE_AFTER } from '../stream/writer';
import { checkNumber, describe } from '../validate';
import type { WhereToListen } from '../where-to-listen';
import { HandlerRun } from './handler-run';
import { acceptedConnection, checkWhereToListen, DEFAULT_BACKLOG } from './listen';

/**
 * What happens when a handler fails (errors, or throws) through a bug of its own: `'raise'` stops
 * the server (its `closeFinished` errors), `'ignore'` carries on, `{ call }` reports and carries on
 * unless `call` throws, which stops the server as `'raise'` does.
 *
 * What the peer causes is never a handler error, whatever the policy, even when it reaches the
 * server through the handler's Observable (a `transfer` erroring on a reset, a `lines()` refusing
 * an overlong line, a writer's `BufferAgeLimitError`): see {@link isConnectionFailure}. It closes
 * that connection only and is reported as a `connectionClosed` event with the error. No peer can
 * stop a server.
 */
export type HandlerErrorPolicy<A extends Address> =
  | 'raise'
  | 'ignore'
  | {
      /** Told of each handler error; throwing from it stops the server with what it threw. */
      call: (address: A, error: unknown) => void;
    };

/** Options of {@link Server.create}. */
export interface ServerOptions<A extends Address> extends ConnectionOptions {
  /**
   * The most handlers running at once. Connections beyond it are accepted but wait unread and
   * unanswered until a slot frees. Default `10_000`.
   */
  maxConnections?: number;
  /**
   * The most accepted connections waiting for a slot: past it a new connection is closed at once
   * (event `rejected`), so memory and descriptors stay bounded. Default `64`.
   */
  maxPendingConnections?: number;
  /**
   * The listen backlog: connections the kernel completes before they are accepted, kept apart from
   * `maxPendingConnections` so that a burst of connects is not dropped while slots are free.
   * Default `511`, Node's.
   */
  backlog?: number;
  /** Closes a connection that neither received nor wrote anything for this many ms. Default: off. */
  idleTimeout?: number;
  /** Serve TLS (Node's `tls.TlsOptions`: `key`, `cert`, …). Default: plain TCP. */
  tls?: tls.TlsOptions;
  /** What a handler's own failure does (a connection failure never counts). Default `'raise'`. */
  onHandlerError?: HandlerErrorPolicy<A>;
}

/** Options of {@link Server.close}. */
export interface ServerCloseOptions {
  /** Also close every connection now (their handlers are unsubscribed). Default `false`. */
  closeExistingConnections?: boolean;
  /**
   * Wait this many ms for running handlers to finish, then close the connections of those still
   * running. Default: connections are left to their handlers.
   */
  drainTimeout?: number;
  /**
   * When this close closes connections (`closeExistingConnections`, or at the end of
   * `drainTimeout`), how long each one's writer may take to flush to a peer that stopped reading
   * before the connection is reset and its unsent bytes dropped: milliseconds, or `'never'`.
   * Default `30_000`, as in Async.
   */
  forceCloseAfter?: number | 'never';
}

/** Something that happened to a server, for logs and metrics. */
export interface ServerEvent<A extends Address> {
  /** What happened. */
  type: 'accepted' | 'limitReached' | 'rejected' | 'handlerError' | 'connectionClosed' | 'closed';
  /** The peer, for events about one connection. */
  address?: A;
  /**
   * The handler's error (`handlerError`), the connection failure that closed the connection
   * (`connectionClosed`: a reset, bytes lost to a peer gone, a buffer-age limit, input the framing
   * refused), or the accept error (`rejected`).
   */
  error?: unknown;
  /** Handlers running (slots taken) once the event happened. */
  numConnections: number;
}

/** The handler of `Server.create`: serves one connection; its end closes the connection. */
export type Handler<A extends Address> = (
  address: A,
  reader: Reader,
  writer: Writer,
) => ObservableInput<unknown>;

/** The default of `ServerOptions.maxConnections`. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** The default of `ServerOptions.maxPendingConnections`. */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 64;

/**
 * A TCP or Unix-socket server (Async's `Tcp.Server`): made by {@link Server.create}, it calls its
 * handler for each connection, at most `maxConnections` at once, and closes each connection when
 * its handler is done.
 *
 * ```ts
 * import { Server, onPortChosenByOs } from 'rx-tcp';
 *
 * Server.create(onPortChosenByOs, (_address, reader, writer) => reader.transfer(writer), {
 *   maxConnections: 100,
 * }).subscribe((server) => console.log('echo server on port', server.listeningOn));
 * ```
 */
export class Server<A extends Address, L> {
  /** What the server listens on: the port (the real one for `onPortChosenByOs`) or the path. */
  readonly listeningOn!: L;
  /**
   * The listening Node server. Accepting on it directly bypasses `maxConnections` and handler
   * errors. On a Unix socket its `address()` is the name it was bound to before it was linked to
   * the path (see `onFile`); `listeningOn` is the path.
   */
  readonly listeningSocket!: net.Server;

  private readonly eventSubject = new Subject<ServerEvent<A>>();
  private readonly finished = new Outcome();
  /**
   * The connections being served (their handler running, or their connection closing), each at
   * its `slot`. An array rather than a Set: with one entry added and one deleted per connection,
   * a Set made the garbage collector promote about 370 B more per connection (`--trace-gc-nvp`,
   * 1 460 B against 1 085 B), its table being rebuilt every few connections.
   */
  private readonly served: Served<A>[] = [];
  /** Accepted sockets waiting, unread, for a slot, first come first served. */
  private readonly queued = new Set<net.Socket>();
  /** Closes the listening socket (idempotent). */
  private stopListening: (() => void) | undefined;
  private serving!: Serving<A>;
  /** `close()` waits for the connections being served: it is done when the last one is. */
  private settleWhenIdle = false;
  private listening = false;
  private closeStarted = false;
  private failure: { error: unknown } | undefined;

  private constructor(
    private readonly maxConnections: number,
    private readonly maxPending: number,
    private readonly scheduler: SchedulerLike,
    /** Plain TCP: sockets may be accepted paused (a TLS server ignores it). */
    private readonly mayPause: boolean,
  ) {}

  /**
   * Starts a server listening as `where` says; emits it once it listens, then completes.
   *
   * `handler(address, reader, writer)` is called for each connection and returns an
   * `ObservableInput`; when that completes, errors or throws, the writer (flushed, forced after
   * 30 s) then the reader are closed, and only then is the slot free for a waiting connection.
   * Unsubscribing before the server is emitted abandons it; afterwards, close it with `close()`.
   *
   * ```ts
   * import { firstValueFrom } from 'rxjs';
   * import { EOF, Server, onPort } from 'rx-tcp';
   *
   * const server = await firstValueFrom(
   *   Server.create(onPort(7000), (_address, reader, writer) => reader.lines().pipe(
   *     // each line answered twice, then the connection closes at the client's FIN
   *     (lines) => new Promise<void>((done) => lines.subscribe({
   *       next: (line) => { writer.writeLine(line); writer.writeLine(line); },
   *       complete: done,
   *     })),
   *   )),
   * );
   * ```
   * @param where From `onPort`, `onPortChosenByOs`, `onFile` or `WhereToListen.create`.
   * @param handler Serves one connection.
   * @param options `maxConnections` (default 10 000), `maxPendingConnections` (default 64),
   *   `backlog` (default 511),
   *   `onHandlerError` (default `'raise'`), `idleTimeout` (default off), `readerBufferSize`
   *   (default 128 KiB), `bufferAgeLimit` (default `120_000` ms), `tls`, `scheduler`.
   */
  static create<A extends Address, L>(
    where: WhereToListen<A, L>,
    handler: Handler<A>,
    options: ServerOptions<A> = {},
  ): Observable<Server<A, L>> {
    checkWhereToListen('Server.create', where);
    if (typeof handler !== 'function') {
      throw new TypeError(`Server.create: handler must be a function, got ${describe(handler)}`);
    }
    checkConnectionOptions('Server.create', options);
    const {
      maxConnections = DEFAULT_MAX_CONNECTIONS,
      maxPendingConnections = DEFAULT_MAX_PENDING_CONNECTIONS,
      backlog = DEFAULT_BACKLOG,
      idleTimeout,
      tls,
      onHandlerError = 'raise',
      scheduler = asyncScheduler,
    } = options;
    checkNumber('Server.create', 'maxConnections', maxConnections, 1, true);
    checkNumber('Server.create', 'maxPendingConnections', maxPendingConnections, 0, true);
    checkNumber('Server.create', 'backlog', backlog, 0, true);
    if (idleTimeout !== undefined) checkNumber('Server.create', 'idleTimeout', idleTimeout, 1);
    if (
      onHandlerError !== 'raise' &&
      onHandlerError !== 'ignore' &&
      (typeof onHandlerError !== 'object' ||
        onHandlerError === null ||
        typeof onHandlerError.call !== 'function')
    ) {
      throw new TypeError(
        `Server.create: onHandlerError must be 'raise', 'ignore' or { call }, got ${describe(onHandlerError)}`,
      );
    }

    return new Observable<Server<A, L>>((subscriber) => {
      const server = new Server<A, L>(maxConnections, maxPendingConnections, scheduler, tls === undefined);
      server.stopListening = listenSockets(where, {
        backlog,
        tls,
        onAcceptError: (error) => server.emit('rejected', undefined, error),
        onListening: (netServer, address) => {
          server.serving = {
            server,
            bound: address,
            handler,
            options,
            policy: onHandlerError,
            idleTimeout,
            scheduler,
          };
          const writable = server as { listeningOn: L; listeningSocket: net.Server };
          writable.listeningOn = where.listeningOn(address);
          writable.listeningSocket = netServer;
          server.listening = true;
          subscriber.next(server);
          subscriber.complete();
        },
        onSocket: (socket) => server.accept(socket),
        onError: (error) => {
          if (!server.listening) subscriber.error(error);
          else server.fail(error);
        },
      });
      return () => {
        if (!server.listening) server.stopListening?.();
      };
    });
  }

  /** Events as they happen (hot, not replayed): accepted, limitReached, rejected, handlerError, connectionClosed, closed. */
  get events(): Observable<ServerEvent<A>> {
    return this.eventSubject.asObservable();
  }

  /** Handlers running (slots taken, including connections still closing after their handler). */
  get numConnections(): number {
    return this.running;
  }

  /** Slots taken: one per connection being served. */
  private get running(): number {
    return this.served.length;
  }

  /** True once `close()` was called, or the server stopped on a handler error. */
  isClosed(): boolean {
    return this.closeStarted;
  }

  /**
   * Completes once the listening socket is closed (and, when `close` was asked to close or drain
   * the connections, once they are closed too); errors with the handler error that stopped the
   * server. Hot, replaying. Does not start closing.
   */
  get closeFinished(): Observable<void> {
    return this.finished.asObservable();
  }

  /**
   * Stops accepting and closes the listening socket; no handler is called after it. Idempotent:
   * later calls have no further effect and return the same Observable as the first.
   * @param options `closeExistingConnections` (default `false`), `drainTimeout` (default: none),
   *   `forceCloseAfter` (default `30_000` ms: how long each connection closed may flush).
   */
  close(options: ServerCloseOptions = {}): Observable<void> {
    const { closeExistingConnections = false, drainTimeout, forceCloseAfter = CLOSE_FORCE_AFTER } = options;
    if (drainTimeout !== undefined) checkNumber('Server.close', 'drainTimeout', drainTimeout, 0);
    if (forceCloseAfter !== 'never') checkNumber('Server.close', 'forceCloseAfter', forceCloseAfter, 0);
    if (!this.closeStarted) {
      this.shutdown();
      const closeOptions = { forceCloseAfter };
      if (closeExistingConnections) {
        this.closeConnections(closeOptions);
      } else if (drainTimeout !== undefined) {
        this.drain(drainTimeout, closeOptions);
      } else {
        this.settle();
      }
    }
    return this.closeFinished;
  }

  /** Throws if the server's bookkeeping is inconsistent (Async's `invariant`). */
  invariant(): void {
    const problems: string[] = [];
    if (this.running > this.maxConnections) problems.push(`running ${this.running}`);
    if (this.served.some((served, slot) => served.slot !== slot))
      problems.push('a connection out of its slot');
    const waiting = this.queued.size;
    if (waiting > this.maxPending) problems.push(`${waiting} waiting`);
    if (waiting > 0 && this.running < this.maxConnections) problems.push('waiting while a slot is free');
    if (waiting > 0 && this.closeStarted) problems.push('waiting after close');
    if (this.closeStarted && this.listeningSocket?.listening) problems.push('closed but still listening');
    if (this.failure !== undefined && !this.closeStarted) problems.push('failed but not closed');
    if (problems.length > 0) throw new Error(`Server invariant broken: ${problems.join('; ')}`);
  }

  /**
   * Serves an accepted socket now if a slot is free, else queues it, unread, or closes it at once
   * when too many wait already. The slots are counted here rather than by `mergeMap(serve,
   * maxConnections)`, whose inner subscription per connection (a subscriber, its closures and
   * their context) costs about 400 bytes for as long as the connection lives.
   */
  private accept(socket: net.Socket): void {
    if (this.closeStarted) {
      socket.destroy();
      return;
    }
    if (this.running < this.maxConnections) {
      this.emitFor('accepted', socket);
      // Whoever heard of it may have closed the server: no handler is called after close().
      if (this.closeStarted) socket.destroy();
      else this.start(socket);
      return;
    }
    if (this.queued.size >= this.maxPending) {
      socket.destroy();
      this.emitFor('rejected', socket);
      return;
    }
    this.queued.add(socket);
    this.emitFor('accepted', socket);
    this.emitFor('limitReached', socket);
  }

  /** Takes a slot and runs the handler on `socket`. */
  private start(socket: net.Socket): void {
    const served = new Served(this.serving);
    served.slot = this.served.length;
    this.served.push(served);
    if (this.served.length === this.maxConnections) this.acceptPaused(true);
    served.start(socket);
  }

  /**
   * Whether sockets are accepted paused from now on (`pauseOnConnect`): only while every slot is
   * taken, so that those left waiting for one stay unread, their bytes in the kernel and their peer
   * held back by TCP. Not always: resuming a socket accepted paused costs about 3% of the cost of
   * a connection made and closed (cachegrind). Set before the next socket is accepted, since
   * libuv hands each to JavaScript as it accepts it.
   */
  private acceptPaused(paused: boolean): void {
    if (this.mayPause)
      (this.listeningSocket as net.Server & { pauseOnConnect: boolean }).pauseOnConnect = paused;
  }

  /** @internal A connection is closed after its handler: its slot goes to the first one waiting. */
  connectionEnded(served: Served<A>, address: A, writerFailure: unknown): void {
    // The last one takes its slot: order does not matter, and nothing is shifted.
    const last = this.served.pop()!;
    if (last !== served) {
      this.served[served.slot] = last;
      last.slot = served.slot;
    }
    this.emit('connectionClosed', address, writerFailure);
    // Checked by size first: an iterator and its result per connection are garbage a server
    // accepting thousands of connections a second would make for nothing.
    if (this.queued.size > 0) {
      const next = this.queued.values().next().value!;
      this.queued.delete(next);
      this.start(next);
    } else {
      // A slot is free and nobody waits: if every slot was taken, sockets were accepted paused.
      if (this.served.length === this.maxConnections - 1) this.acceptPaused(false);
      if (this.settleWhenIdle && this.running === 0) this.settle();
    }
  }

  /** @internal A handler failed: applies the server's policy. */
  handlerFailed(address: A, error: unknown): void {
    const { policy } = this.serving;
    this.emit('handlerError', address, error);
    if (policy === 'ignore') return;
    if (policy === 'raise') {
      this.fail(error);
      return;
    }
    try {
      policy.call(address, error);
    } catch (thrown) {
      this.fail(thrown);
    }
  }

  /** Stops the server on an error: no more accepting; the error is the outcome of the close. */
  private fail(error: unknown): void {
    if (this.closeStarted) return;
    this.failure = { error };
    this.shutdown();
    this.settle();
  }

  /** Stops accepting, closes the listening socket, and drops the connections waiting for a slot. */
  private shutdown(): void {
    this.closeStarted = true;
    this.stopListening?.();
    for (const socket of this.queued) socket.destroy();
    this.queued.clear();
  }

  /** Stops every handler and closes its connection; the close is done once they all are. */
  private closeConnections(options: WriterCloseOptions): void {
    this.settleWhenIdle = true;
    if (this.running === 0) this.settle();
    else for (const served of [...this.served]) served.stop(options);
  }

  private drain(timeout: number, options: WriterCloseOptions): void {
    this.settleWhenIdle = true;
    if (this.running === 0) {
      this.settle();
      return;
    }
    const timer = this.scheduler.schedule(() => this.closeConnections(options), timeout);
    this.finished.subscribe({ complete: () => timer.unsubscribe(), error: () => timer.unsubscribe() });
  }

  /** The close is complete: tell `closeFinished`, or report an error nobody is there to see. */
  private settle(): void {
    if (this.finished.settled) return;
    this.emit('closed', undefined, this.failure?.error);
    if (this.failure === undefined) {
      this.finished.resolve();
      return;
    }
    const { error } = this.failure;
    const observed = this.finished.observed;
    this.finished.reject(error);
    // As an uncaught error would: through RxJS's unhandled-error path (config.onUnhandledError).
    if (!observed) throwError(() => error).subscribe();
  }

  /** Emits an event about an accepted socket; its address is looked up only if someone listens. */
  private emitFor(type: ServerEvent<A>['type'], socket: net.Socket): void {
    if (this.eventSubject.observed) this.emit(type, peerOf(socket) as A | undefined);
  }

  private emit(type: ServerEvent<A>['type'], address?: A, error?: unknown): void {
    if (!this.eventSubject.observed) return;
    const event: ServerEvent<A> = { type, numConnections: this.running };
    if (address !== undefined) event.address = address;
    if (error !== undefined) event.error = error;
    this.eventSubject.next(event);
  }
}

function peerOf(socket: net.Socket): Address | undefined {
  const host = socket.remoteAddress;
  if (host === undefined) return undefined; // a Unix socket's peer has no address
  return inetAddress(host, socket.remotePort ?? 0);
}

/** What every connection of one server is served with: one object, not six fields per connection. */
interface Serving<A extends Address> {
  readonly server: Server<A, unknown>;
  /** The address listened on. */
  readonly bound: A;
  readonly handler: Handler<A>;
  readonly options: ConnectionOptions;
  readonly policy: HandlerErrorPolicy<A>;
  readonly idleTimeout: number | undefined;
  readonly scheduler: SchedulerLike;
}

/**
 * One connection being served, in one object: the handler's run (observer of the handler, monitor
 * of the connection), the idle timer's state, and the server's slot. A server may hold ten
 * thousand of these for as long as their peers stay, so closures and subscriptions per connection
 * are what this saves.
 */
class Served<A extends Address> extends HandlerRun<A> {
  /** Its index in the server's array of connections served. */
  slot = 0;
  private idle: Subscription | undefined;
  private lastActivity = 0;

  constructor(private readonly serving: Serving<A>) {
    super();
  }

  start(socket: net.Socket): void {
    const { bound, handler, options, idleTimeout, scheduler } = this.serving;
    let internals: ConnectionInternals = { monitor: this };
    if (idleTimeout !== undefined) {
      this.lastActivity = scheduler.now();
      internals = { monitor: this, onActivity: () => (this.lastActivity = scheduler.now()) };
      this.idle = scheduler.schedule(checkIdle, idleTimeout, this);
    }
    this.run(acceptedConnection(socket, bound, options, internals), handler);
  }

  /** Closes the idle connection, or looks again when it may have become so. */
  checkIdle(action: SchedulerAction<Served<A>>): void {
    const { scheduler, idleTimeout } = this.serving;
    const quiet = scheduler.now() - this.lastActivity;
    if (quiet >= idleTimeout!) {
      this.idle = undefined;
      // Reads in progress see EOF, so a handler reading the connection ends by itself, and what it
      // still writes is dropped. Hot, like the close after the handler: a writer failure is
      // reported with the connectionClosed event.
      this.connection.release(CLOSE_AFTER_USE);
    } else {
      this.idle = action.schedule(this, idleTimeout! - quiet);
    }
  }

  protected failed(error: unknown): void {
    this.serving.server.handlerFailed(this.address, error);
  }

  protected override close(options?: WriterCloseOptions): void {
    this.idle?.unsubscribe();
    this.idle = undefined;
    super.close(options);
  }

  /** The handler is done and the connection closed: the slot is free. */
  protected ended(): void {
    this.serving.server.connectionEnded(this, this.address, this.connectionFailure);
  }
}

function checkIdle<A extends Address>(this: SchedulerAction<Served<A>>, served?: Served<A>): void {
  served!.checkIdle(this);
}
