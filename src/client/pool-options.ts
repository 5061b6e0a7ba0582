import type { Address } from '../address';
import { checkNumber, checkTimerDelay, describe } from '../validate';
import type { ConnectOptions } from './connect';

/** Options of {@link ConnectionPool.create}. */
export interface ConnectionPoolOptions extends ConnectOptions {
  /**
   * The most connections open at once, those being made included. A use that finds none idle and
   * the pool at this bound waits. Default `10`.
   */
  maxConnections?: number;
  /**
   * Milliseconds a connection may stay idle in the pool; then it is closed (flushed, then FIN).
   * `Infinity` for never. Default `30_000`.
   */
  idleTimeout?: number;
  /**
   * Milliseconds a use may wait for its connection, the making of a new one included; then it
   * fails with an `AcquireTimeoutError`. `Infinity` for no bound. Default `10_000`.
   */
  acquireTimeout?: number;
  /**
   * The most uses waiting for a connection: one more fails at once with a `PoolFullError`.
   * `0` refuses any wait; `Infinity` for no bound. Default `1_000`.
   */
  maxWaiting?: number;
}

/** Options of {@link ConnectionPool.close}. */
export interface PoolCloseOptions {
  /**
   * Milliseconds the uses running may go on; then each still running errors with a
   * `PoolClosedError` and its connection is destroyed. Default: they are let finish.
   */
  drainTimeout?: number;
}

/** The default of `ConnectionPoolOptions.maxConnections`. */
export const DEFAULT_POOL_MAX_CONNECTIONS = 10;
/** The default of `ConnectionPoolOptions.idleTimeout`. */
export const DEFAULT_POOL_IDLE_TIMEOUT = 30_000;
/** The default of `ConnectionPoolOptions.acquireTimeout`. */
export const DEFAULT_POOL_ACQUIRE_TIMEOUT = 10_000;
/** The default of `ConnectionPoolOptions.maxWaiting`. */
export const DEFAULT_POOL_MAX_WAITING = 1_000;

/**
 * Where a pool is in its life: `open`; `draining` once `close()` was called while uses still ran;
 * `closed` once none runs (its `closeFinished` then waits for the last sockets to close).
 */
export type PoolState = 'open' | 'draining' | 'closed';

/** A snapshot of a pool's counts, read from `pool.stats`. */
export interface PoolStats {
  /** Connections open or being made: `idle + leased` and those being connected. */
  open: number;
  /** Open connections no use holds. */
  idle: number;
  /** Connections a use holds. */
  leased: number;
  /** Uses waiting for a connection to come free (a use waiting for its own connect is not one). */
  waiting: number;
}

/**
 * Why a connection left the pool (`destroyed` events):
 * - `connectFailed`: making it failed (the use that asked for it has that error);
 * - `cancelled`: its use stopped waiting while it was being made (unsubscribed, `acquireTimeout`,
 *   the pool closed);
 * - `failed`: its use's `f` errored or threw (reset);
 * - `unsubscribed`: its use was unsubscribed while `f` ran (reset);
 * - `unusable`: given back in a state another use cannot start from: its writer or reader closed
 *   or failed, bytes left unread, or a read still under way;
 * - `peerDone`: the peer sent FIN, reset, or the socket closed (while idle, or before it was given
 *   back);
 * - `idleTimeout`: idle longer than `idleTimeout`;
 * - `poolClosed`: idle, or given back, after `close()`;
 * - `drainTimeout`: its use was cut off by `close()`'s `drainTimeout` (reset).
 */
export type PoolDestroyReason =
  | 'connectFailed'
  | 'cancelled'
  | 'failed'
  | 'unsubscribed'
  | 'unusable'
  | 'peerDone'
  | 'idleTimeout'
  | 'poolClosed'
  | 'drainTimeout';

/**
 * Something that happened in a pool, for logs and metrics (`pool.events`):
 * - `created`: a connection was made (`address`);
 * - `leased`: a use was given a connection (`address`);
 * - `released`: a use gave its connection back, reusable (`address`);
 * - `destroyed`: a connection left the pool (`reason`; `address` unless it was never made;
 *   `error` for a failed connect, or what `f` failed with);
 * - `waited`: a use found every connection taken and joined the queue;
 * - `closed`: `close()` is done: every use ended, every connection closed. The last event.
 */
export interface PoolEvent<A extends Address = Address> {
  /** What happened. */
  type: 'created' | 'leased' | 'released' | 'destroyed' | 'waited' | 'closed';
  /** The connection's peer (`remoteAddress`), for events about a connection that was made. */
  address?: A;
  /** Why a connection left the pool (`destroyed` only). */
  reason?: PoolDestroyReason;
  /** The error that made it leave, where there was one (`destroyed` only). */
  error?: unknown;
  /** The pool's counts once the event happened. */
  stats: PoolStats;
}

/** The pool's limits, with their defaults applied. */
export interface PoolLimits {
  maxConnections: number;
  idleTimeout: number;
  acquireTimeout: number;
  maxWaiting: number;
}

/** @internal Applies the defaults and throws at the call when a pool option is out of range. */
export function poolLimits(caller: string, options: ConnectionPoolOptions): PoolLimits {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${caller}: options must be an object, got ${describe(options)}`);
  }
  const {
    maxConnections = DEFAULT_POOL_MAX_CONNECTIONS,
    idleTimeout = DEFAULT_POOL_IDLE_TIMEOUT,
    acquireTimeout = DEFAULT_POOL_ACQUIRE_TIMEOUT,
    maxWaiting = DEFAULT_POOL_MAX_WAITING,
  } = options;
  checkNumber(caller, 'maxConnections', maxConnections, 1, true);
  // Infinity means "never" for these two: no timer is set.
  if (idleTimeout !== Number.POSITIVE_INFINITY) checkTimerDelay(caller, 'idleTimeout', idleTimeout);
  if (acquireTimeout !== Number.POSITIVE_INFINITY) checkTimerDelay(caller, 'acquireTimeout', acquireTimeout);
  if (maxWaiting !== Number.POSITIVE_INFINITY) checkNumber(caller, 'maxWaiting', maxWaiting, 0, true);
  return { maxConnections, idleTimeout, acquireTimeout, maxWaiting };
}

/** @internal Throws at the call unless `options` are {@link PoolCloseOptions}; gives `drainTimeout`. */
export function drainTimeoutOf(options: PoolCloseOptions): number | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`ConnectionPool.close: options must be an object, got ${describe(options)}`);
  }
  const { drainTimeout } = options;
  if (drainTimeout !== undefined) checkTimerDelay('ConnectionPool.close', 'drainTimeout', drainTimeout);
  return drainTimeout;
}
