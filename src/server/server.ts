// server/: accepting connections (listen, Server) and running a handler on each (HandlerRun).
// May import the top-level basics (errors, address, validate, bare-subscriber, where-to-listen,
// connection, connection-failure), stream/, node/ and rxjs; never client/ or testing/.
import type * as net from 'node:net';
import { Observable, type SchedulerLike, Subject, throwError } from 'rxjs';
import { type Address, inetAddress } from '../address';
import type { ProxyInfo } from '../bytes/proxy-header';
import { listenSockets } from '../node/listen-sockets';
import type { WriterCloseOptions } from '../stream/force-close';
import { CLOSE_FORCE_AFTER } from '../stream/force-close';
import { Outcome } from '../stream/outcome';
import { checkTimerDelay } from '../validate';
import type { WhereToListen } from '../where-to-listen';
import type { Handler } from './handler-run';
import { type HeaderRead, type ProxyHeaderReads, proxyHeaderReads } from './proxy-accept';
import {
  type HandlerErrorPolicy,
  type ServerCloseOptions,
  type ServerEvent,
  type ServerOptions,
  serverSettings,
} from './server-options';
import { type RunOwner, ServerRun } from './server-run';

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
   * its `slot`. An array rather than a Set: with one entry added and one deleted per connection, a
   * Set rebuilds its table every few connections, garbage that the collector then promotes.
   */
  private readonly runs: ServerRun<A>[] = [];
  /**
   * Accepted sockets waiting, unread, for a slot, first come first served, with what their PROXY
   * header said (null without one).
   */
  private readonly queued = new Map<net.Socket, ProxyInfo | null>();
  /** With `proxyProtocol`: the headers being read, each counted as a pending connection. */
  private headers: ProxyHeaderReads | undefined;
  /** Closes the listening socket (idempotent). */
  private stopListening: (() => void) | undefined;
  /** What each run is given: the settings they share, and this server to report to. */
  private runOwner!: RunOwner<A>;
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
    private readonly policy: HandlerErrorPolicy<A>,
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
   *   `backlog` (default 511), `onHandlerError` (default `'raise'`), `idleTimeout` (default off),
   *   `readerBufferSize` (default 128 KiB), `bufferAgeLimit` (default `120_000` ms), `tls`,
   *   `proxyProtocol` (default `false`), `proxyHeaderTimeout` (default `10_000` ms), `reusePort`
   *   (default `false`), `scheduler` (default `asyncScheduler`).
   */
  static create<A extends Address, L>(
    where: WhereToListen<A, L>,
    handler: Handler<A>,
    options: ServerOptions<A> = {},
  ): Observable<Server<A, L>> {
    const settings = serverSettings(where, handler, options);
    const { proxyProtocol, idleTimeout, scheduler } = settings;
    return new Observable<Server<A, L>>((subscriber) => {
      const server = new Server<A, L>(
        settings.maxConnections,
        settings.maxPendingConnections,
        scheduler,
        settings.tls === undefined && proxyProtocol === false,
        settings.onHandlerError,
      );
      server.headers = proxyHeaderReads(settings, (socket, error) =>
        server.emitFor('rejected', socket, null, error),
      );
      const { backlog, tls, reusePort } = settings;
      server.stopListening = listenSockets<A, ProxyInfo | null>(where, {
        backlog,
        tls,
        reusePort,
        preface:
          proxyProtocol === false ? undefined : (socket, proceed) => server.readHeader(socket, proceed),
        onAcceptError: (error) => server.emit('rejected', undefined, error),
        onListening: (netServer, address) => {
          server.runOwner = {
            bound: address,
            handler,
            options,
            idleTimeout,
            scheduler,
            handlerFailed: (peer, error) => server.handlerFailed(peer, error),
            connectionEnded: (run, peer, failure) => server.connectionEnded(run, peer, failure),
          };
          const writable = server as { listeningOn: L; listeningSocket: net.Server };
          writable.listeningOn = where.listeningOn(address);
          writable.listeningSocket = netServer;
          server.listening = true;
          subscriber.next(server);
          subscriber.complete();
        },
        onSocket: (socket, proxy = null) => server.accept(socket, proxy),
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
    return this.runs.length;
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
    if (drainTimeout !== undefined) checkTimerDelay('Server.close', 'drainTimeout', drainTimeout);
    if (forceCloseAfter !== 'never') checkTimerDelay('Server.close', 'forceCloseAfter', forceCloseAfter);
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
    if (this.runs.some((run, slot) => run.slot !== slot)) problems.push('a connection out of its slot');
    const waiting = this.queued.size;
    const reading = this.headers?.size ?? 0;
    if (waiting + reading > this.maxPending) problems.push(`${waiting} waiting, ${reading} reading a header`);
    if (waiting > 0 && this.running < this.maxConnections) problems.push('waiting while a slot is free');
    if (waiting + reading > 0 && this.closeStarted) problems.push('pending after close');
    if (this.closeStarted && this.listeningSocket?.listening) problems.push('closed but still listening');
    if (this.failure !== undefined && !this.closeStarted) problems.push('failed but not closed');
    if (problems.length > 0) throw new Error(`Server invariant broken: ${problems.join('; ')}`);
  }

  /**
   * Serves an accepted socket (whose PROXY header said `proxy`) now if a slot is free, else queues
   * it, unread, or closes it at once when too many are pending already. The slots are counted here
   * rather than by `mergeMap(serve, maxConnections)`, whose inner subscription per connection (a
   * subscriber, its closures and their context) would be kept for as long as the connection lives.
   */
  private accept(socket: net.Socket, proxy: ProxyInfo | null): void {
    if (this.closeStarted) {
      socket.destroy();
      return;
    }
    if (this.running < this.maxConnections) {
      this.emitFor('accepted', socket, proxy);
      // Whoever heard of it may have closed the server: no handler is called after close().
      if (this.closeStarted) socket.destroy();
      else this.start(socket, proxy);
      return;
    }
    if (this.pending >= this.maxPending) {
      // The event first: a destroyed socket no longer knows its peer.
      this.emitFor('rejected', socket, proxy);
      socket.destroy();
      return;
    }
    this.queued.set(socket, proxy);
    this.emitFor('accepted', socket, proxy);
    this.emitFor('limitReached', socket, proxy);
  }

  /** Connections accepted but not served yet: waiting for a slot, or reading their PROXY header. */
  private get pending(): number {
    return this.queued.size + (this.headers?.size ?? 0);
  }

  /**
   * With `proxyProtocol`, first thing on every accepted socket: a pending connection until its
   * header is read (then `proceed`, to TLS or to `accept`), unless too many are pending already.
   */
  private readHeader(socket: net.Socket, proceed: HeaderRead): void {
    if (this.closeStarted) {
      socket.destroy();
    } else if (this.pending >= this.maxPending) {
      this.emitFor('rejected', socket, null);
      socket.destroy();
    } else {
      this.headers!.read(socket, proceed);
    }
  }

  /** Takes a slot and runs the handler on `socket`. */
  private start(socket: net.Socket, proxy: ProxyInfo | null): void {
    const run = new ServerRun(this.runOwner);
    run.slot = this.runs.length;
    this.runs.push(run);
    if (this.runs.length === this.maxConnections) this.acceptPaused(true);
    run.start(socket, proxy);
  }

  /**
   * Whether sockets are accepted paused from now on (`pauseOnConnect`): only while every slot is
   * taken, so that those left waiting for one stay unread, their bytes in the kernel and their peer
   * held back by TCP. Not always: resuming a socket accepted paused is a cost on every connection
   * that a server with free slots need not pay. Set before the next socket is accepted, since
   * libuv hands each to JavaScript as it accepts it.
   */
  private acceptPaused(paused: boolean): void {
    if (this.mayPause)
      (this.listeningSocket as net.Server & { pauseOnConnect: boolean }).pauseOnConnect = paused;
  }

  /** A connection is closed after its handler: its slot goes to the first one waiting. */
  private connectionEnded(run: ServerRun<A>, address: A, writerFailure: unknown): void {
    // The last one takes its slot: order does not matter, and nothing is shifted.
    const last = this.runs.pop()!;
    if (last !== run) {
      this.runs[run.slot] = last;
      last.slot = run.slot;
    }
    this.emit('connectionClosed', address, writerFailure);
    // Checked by size first: an iterator and its result per connection are garbage a server
    // accepting thousands of connections a second would make for nothing.
    if (this.queued.size > 0) {
      const [next, proxy] = this.queued.entries().next().value!;
      this.queued.delete(next);
      this.start(next, proxy);
    } else {
      // A slot is free and nobody waits: if every slot was taken, sockets were accepted paused.
      if (this.runs.length === this.maxConnections - 1) this.acceptPaused(false);
      if (this.settleWhenIdle && this.running === 0) this.settle();
    }
  }

  /** A handler failed: applies the server's policy. */
  private handlerFailed(address: A, error: unknown): void {
    const { policy } = this;
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
    for (const socket of this.queued.keys()) socket.destroy();
    this.queued.clear();
    this.headers?.cancelAll();
  }

  /** Stops every handler and closes its connection; the close is done once they all are. */
  private closeConnections(options: WriterCloseOptions): void {
    this.settleWhenIdle = true;
    if (this.running === 0) this.settle();
    else for (const run of [...this.runs]) run.stop(options);
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

  /**
   * Emits an event about an accepted socket, with its client's address: its PROXY header's, else
   * its peer's (while the socket is open), looked up only if someone listens.
   */
  private emitFor(
    type: ServerEvent<A>['type'],
    socket: net.Socket,
    proxy: ProxyInfo | null,
    error?: unknown,
  ): void {
    if (this.eventSubject.observed)
      this.emit(type, (proxy?.source ?? peerOf(socket)) as A | undefined, error);
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
