import { defer, type Observable, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import type { Address } from '../address';
import { BareSubscriber } from '../bare-subscriber';
import { Connection, checkConnectionOptions } from '../connection';
import { socketTransport } from '../node/socket-transport';
import { CLOSE_AFTER_USE } from '../stream/force-close';
import { describe } from '../validate';
import { WhereToConnect } from '../where-to-connect';
import type { ConnectOptions } from './connect';
import { connectWith } from './connect-sock';
import type { Use } from './pool-use';

/**
 * @internal What makes a pool's connections: `connect` to `where` with `options`, or the factory;
 * throws at the call on a bad `where` or option.
 */
export function pooledConnector<A extends Address>(
  caller: string,
  where: WhereToConnect<A> | (() => Observable<Connection<A>>),
  options: ConnectOptions,
): Observable<Connection<A>> {
  checkConnectionOptions(caller, options);
  if (typeof where === 'function') return defer(where);
  if (!(where instanceof WhereToConnect)) {
    throw new TypeError(
      `${caller}: where must be a WhereToConnect or a function returning an Observable of a connection, got ${describe(where)}`,
    );
  }
  return connectWith(caller, where, options, (socket) => {
    return new Connection(socket, socketTransport(socket.nodeSocket), options);
  });
}

/**
 * Where a pooled connection is in its life. Entered in one place, the pool's `move`, which keeps
 * the counts; the pool decides when.
 *
 * - `new`: just made, not counted yet;
 * - `connecting`: being made for the use in `user`;
 * - `idle`: open, no use holds it;
 * - `leased`: the use in `user` holds it;
 * - `closing`: out of the pool, its socket being closed (flushed then FIN, or reset);
 * - `closed`: its socket is closed, or it was never made.
 */
export type PooledState = 'new' | 'connecting' | 'idle' | 'leased' | 'closing' | 'closed';

/** A use of a pool: its `slot` is a {@link PooledConnection}. */
export type PoolUse<A extends Address> = Use<A, PooledConnection<A>>;

/** What a pooled connection tells its pool. Each call is a step of the pool's state machine. */
export interface PooledConnectionOwner<A extends Address> {
  /** The connect emitted the connection (now in `connection`). */
  connected(slot: PooledConnection<A>): void;
  /** The connect failed, or ended without a connection. */
  connectFailed(slot: PooledConnection<A>, error: unknown): void;
  /** The peer sent FIN, reset, or the socket closed. */
  peerDone(slot: PooledConnection<A>): void;
  /** The idle timer rang (the connection may have been leased and given back since). */
  idleTimerRang(slot: PooledConnection<A>): void;
  /** Its socket is closed, after the pool retired it. */
  closeDone(slot: PooledConnection<A>): void;
}

/**
 * One connection of a pool, from its connect to its close: the subscriber of its connect (so that
 * cancelling the connect is unsubscribing it), its idle timer and the watch on its peer.
 */
export class PooledConnection<A extends Address> extends BareSubscriber<Connection<A>> {
  state: PooledState = 'new';
  connection: Connection<A> | undefined;
  /** The peer's address, read once connected (a closed socket may no longer tell it). */
  address: A | undefined;
  /** The use holding it (`leased`) or waiting for it (`connecting`). */
  user: PoolUse<A> | undefined;
  /** The peer sent FIN, reset, or the socket closed: it can serve no other use. */
  peerIsDone = false;
  /** When it last became idle, by the scheduler's clock. */
  idleSince = 0;
  private idleTimer: Subscription | undefined;
  private watch: WhenSettled | undefined;

  constructor(private readonly owner: PooledConnectionOwner<A>) {
    super();
  }

  // The connect's subscriber: the first connection emitted is this one's.
  next(connection: Connection<A>): void {
    if (this.closed) return;
    this.unsubscribe();
    this.connection = connection;
    this.address = connection.remoteAddress;
    this.owner.connected(this);
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    this.owner.connectFailed(this, error);
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.owner.connectFailed(
      this,
      new Error('ConnectionPool: the connection factory completed without a connection'),
    );
  }

  /** Whether another use can start from it as from a new connection. */
  reusable(): boolean {
    const { reader, writer } = this.connection!;
    return (
      !this.peerIsDone &&
      writer.state === 'open' &&
      reader.state === 'open' &&
      reader.consumer === null &&
      reader.bytesBuffered === 0
    );
  }

  /** Watches the peer, without reading: a connection it left is never handed out again. */
  watchPeer(): void {
    const watch = new WhenSettled(() => this.peerLeft());
    this.watch = watch;
    this.connection!.peerDone.subscribe(watch);
  }

  /** @internal The peer is done (from the watch). */
  peerLeft(): void {
    this.peerIsDone = true;
    this.owner.peerDone(this);
  }

  /**
   * Starts the idle period: the timer rings `idleTimeout` after it, unless one already will ring
   * sooner (set during an earlier idle period; the pool then looks at `idleSince` and sets it again).
   */
  becameIdle(scheduler: SchedulerLike, idleTimeout: number): void {
    this.idleSince = scheduler.now();
    if (this.idleTimer === undefined && idleTimeout !== Number.POSITIVE_INFINITY) {
      this.idleTimer = scheduler.schedule(idleTask, idleTimeout, this);
    }
  }

  /** Sets the idle timer to ring in `delay`. */
  idleTimerIn(scheduler: SchedulerLike, delay: number): void {
    this.idleTimer = scheduler.schedule(idleTask, delay, this);
  }

  /** @internal The idle timer rang. */
  idleTimerRang(): void {
    this.idleTimer = undefined;
    this.owner.idleTimerRang(this);
  }

  /** Out of the pool: cancels the connect, the idle timer and the watch. */
  retire(): void {
    this.unsubscribe();
    this.idleTimer?.unsubscribe();
    this.idleTimer = undefined;
    this.watch?.unsubscribe();
    this.watch = undefined;
  }

  /**
   * Closes the connection, gracefully (flushed then FIN, forced after 30 s, as `withConnection`
   * does) or with a reset; the pool hears when its socket is closed.
   */
  shut(how: 'close' | 'reset'): void {
    const connection = this.connection!;
    const done = new WhenSettled(() => this.owner.closeDone(this));
    if (how === 'reset') {
      connection.destroy();
      connection.closed.subscribe(done);
    } else {
      connection.release(CLOSE_AFTER_USE).subscribe(done);
    }
  }
}

function idleTask(this: SchedulerAction<{ idleTimerRang(): void }>, slot?: { idleTimerRang(): void }): void {
  slot!.idleTimerRang();
}

/**
 * Calls `then` once the Observable it subscribes to completes or errors (`connection.peerDone`, a
 * retired connection's close): both count as settled.
 */
class WhenSettled extends BareSubscriber<void> {
  constructor(private readonly then: () => void) {
    super();
  }

  next(): void {}

  error(): void {
    this.complete();
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.then();
  }
}
