import { asyncScheduler, type Observable, type ObservableInput } from 'rxjs';
import type { Address } from '../address';
import type { Connection } from '../connection';
import { describe } from '../validate';
import type { WhereToConnect } from '../where-to-connect';
import { type PooledConnection, pooledConnector } from './pool-connection';
import { PoolMachine } from './pool-machine';
import {
  type ConnectionPoolOptions,
  drainTimeoutOf,
  type PoolCloseOptions,
  type PoolEvent,
  type PoolStats,
  poolLimits,
} from './pool-options';
import { UseObservable } from './pool-use';

/**
 * Connections reused across requests, as undici's `Pool` or Reactor Netty's `ConnectionProvider`:
 * made by {@link ConnectionPool.create}, used with `pool.use(f)`, closed with `pool.close()`.
 *
 * A pooled connection is `connecting`, `idle` or `leased`, then `closing` and `closed`; the pool is
 * `open`, `draining` once closed with uses running, then `closed`. Both state machines are
 * `PoolMachine`'s.
 *
 * ```ts
 * import { lastValueFrom } from 'rxjs';
 * import { ConnectionPool, EOF, toHostAndPort } from 'rx-tcp';
 *
 * const pool = ConnectionPool.create(toHostAndPort('127.0.0.1', 6379), { maxConnections: 4 });
 * const pong = await lastValueFrom(
 *   pool.use(({ reader, writer }) => {
 *     writer.write('PING\r\n');
 *     return reader.readLine();
 *   }),
 * );
 * console.log(pong === EOF ? 'closed' : pong); // +PONG
 * await lastValueFrom(pool.close(), { defaultValue: undefined });
 * ```
 */
export class ConnectionPool<A extends Address = Address> extends PoolMachine<A> {
  /**
   * Makes a pool of connections to `where`; nothing is connected before the first use.
   *
   * ```ts
   * import { ConnectionPool, toHostAndPort } from 'rx-tcp';
   *
   * const pool = ConnectionPool.create(toHostAndPort('db.internal', 5432), {
   *   maxConnections: 20,
   *   idleTimeout: 60_000,
   *   timeout: 5_000, // each connect's
   * });
   * ```
   * @param where A `WhereToConnect`, or a function returning an Observable of one connection (a
   *   factory: `connectionPair` in tests, a connect of your own), called for each connection made.
   * @param options `maxConnections` (default 10), `idleTimeout` (default `30_000` ms),
   *   `acquireTimeout` (default `10_000` ms), `maxWaiting` (default 1 000); and for each connect,
   *   `timeout` (default `30_000` ms), `interrupt`, `tls`, `readerBufferSize` (default 128 KiB),
   *   `bufferAgeLimit` (default `120_000` ms); `scheduler` for every timer (default `asyncScheduler`).
   */
  static create<A extends Address>(
    where: WhereToConnect<A> | (() => Observable<Connection<A>>),
    options: ConnectionPoolOptions = {},
  ): ConnectionPool<A> {
    const limits = poolLimits('ConnectionPool.create', options);
    const connect$ = pooledConnector('ConnectionPool.create', where, options);
    return new ConnectionPool<A>(connect$, limits, options.scheduler ?? asyncScheduler);
  }

  /**
   * Runs `f` on a pooled connection and emits what its `ObservableInput` emits.
   *
   * Cold: each subscription leases one connection — an idle one, else a new one below
   * `maxConnections`, else it waits, first come first served, at most `acquireTimeout` (the
   * connect included). When `f`'s Observable completes, the connection goes back to the pool, to
   * the first use waiting or idle, and then the result completes. A connection whose `f` errored or
   * threw, whose use was unsubscribed while `f` ran, or whose peer left (FIN, reset, close), or that
   * is given back with unread bytes, a read under way or a side closed, is destroyed and never
   * handed out again. Errors are notifications: the connect's own error (not retried), `f`'s,
   * `AcquireTimeoutError`, `PoolFullError` (more than `maxWaiting` would wait), `PoolClosedError`.
   *
   * Unsubscribed as it takes a value (`firstValueFrom`, `take(1)`), a use whose `f` completes in
   * that same turn (a Promise, `readLine()`) gives its connection back as if it had completed.
   * A direct subscriber's `next` or `complete` that throws is not Node's problem: the throw is the
   * use's error; an error with no `error` callback to take it becomes the error of `close()`.
   *
   * ```ts
   * import { lastValueFrom } from 'rxjs';
   *
   * const line = await lastValueFrom(
   *   pool.use(({ reader, writer }) => {
   *     writer.writeLine('GET colour');
   *     return reader.readLine();
   *   }),
   * );
   * ```
   * @param f Given the connection; returns what to emit (an Observable, a Promise, an array, …).
   */
  use<T>(f: (connection: Connection<A>) => ObservableInput<T>): Observable<T> {
    if (typeof f !== 'function') {
      throw new TypeError(`ConnectionPool.use: f must be a function, got ${describe(f)}`);
    }
    return new UseObservable<A, PooledConnection<A>, T>(this, f);
  }

  /** The counts now, as a new object each time: `{ open, idle, leased, waiting }`. */
  get stats(): PoolStats {
    return this.books.stats;
  }

  /**
   * Events as they happen (hot, not replayed), each with the counts once it happened: `created`,
   * `leased`, `released`, `destroyed` (with its `reason`), `waited`, and last `closed`, after
   * which it completes. A direct subscriber's throw fails the use the event is about; for an event
   * about no running use, it is that subscriber's error.
   */
  get events(): Observable<PoolEvent<A>> {
    return this.notices.events;
  }

  /**
   * Completes once the pool is closed: every use ended and every connection's socket closed. Hot,
   * replaying. Errors with the first error no subscriber could take. Does not start closing.
   */
  get closeFinished(): Observable<void> {
    return this.notices.finished.asObservable();
  }

  /**
   * Closes the pool: no lease from now on; waiting uses, and uses subscribed later, get a
   * `PoolClosedError`; idle connections are closed at once (flushed, then FIN); uses running are
   * let finish, and their connections closed as they end. Idempotent: every call returns the same
   * Observable, `closeFinished`, and the options of later calls change nothing.
   * @param options `drainTimeout`: after this many ms, each use still running errors with a
   *   `PoolClosedError` and its connection is reset. Default: they are let finish.
   */
  close(options: PoolCloseOptions = {}): Observable<void> {
    const drainTimeout = drainTimeoutOf(options);
    if (this.state === 'open') this.startClose(drainTimeout);
    return this.closeFinished;
  }

  /** Throws if the pool's bookkeeping is inconsistent (as `Server.invariant`, Async's `invariant`). */
  invariant(): void {
    const problems = this.books.problems(this.state, this.limits);
    if (this.state === 'open' && this.drainTimer !== undefined) problems.push('a drain timer while open');
    if (problems.length > 0) throw new Error(`ConnectionPool invariant broken: ${problems.join('; ')}`);
  }
}
