import type { Observable, SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import type { Address } from '../address';
import type { Connection } from '../connection';
import { AcquireTimeoutError, PoolClosedError, PoolFullError } from '../errors';
import { PooledConnection, type PooledConnectionOwner, type PoolUse } from './pool-connection';
import { PoolLedger } from './pool-ledger';
import { PoolNotices } from './pool-notices';
import type { PoolDestroyReason, PoolLimits, PoolState } from './pool-options';
import type { UseOutcome, UseOwner } from './pool-use';

/**
 * The state machine of a `ConnectionPool`, beneath its public face. Each step (a use subscribing,
 * `f` completing, a connect, a timer, a peer leaving) is a method below: it holds the pool,
 * changes the books ({@link PoolLedger}: a connection changes state there only) through the
 * transitions further down, and lets go, which delivers what it queued ({@link PoolNotices}) once
 * the books are whole again. The pool itself changes state in `enterState` only.
 */
export class PoolMachine<A extends Address>
  implements UseOwner<A, PooledConnection<A>>, PooledConnectionOwner<A>
{
  /** @internal */
  protected state: PoolState = 'open';
  /** @internal */
  protected readonly books = new PoolLedger<A>();
  /** @internal */
  protected readonly notices = new PoolNotices<A>(this.books, (use, error) => this.failed(use, error));
  /** @internal */
  protected drainTimer: Subscription | undefined;
  private dispatching = false;
  private settleQueued = false;

  /** @internal */
  protected constructor(
    private readonly connect$: Observable<Connection<A>>,
    /** @internal */
    protected readonly limits: PoolLimits,
    private readonly scheduler: SchedulerLike,
  ) {}

  /** @internal Starts closing: see `ConnectionPool.close`. */
  protected startClose(drainTimeout: number | undefined): void {
    this.step(() => {
      this.enterState('draining');
      const { books } = this;
      for (const use of books.waiters()) this.endWith(use, { error: new PoolClosedError() }, 'cancelled');
      for (const slot of Array.from(books.slots)) {
        if (slot.state === 'connecting')
          this.endWith(slot.user!, { error: new PoolClosedError() }, 'cancelled');
        else if (slot.state === 'idle') this.retire(slot, 'poolClosed');
      }
      if (drainTimeout !== undefined && this.books.leased > 0) {
        this.drainTimer = this.scheduler.schedule(drainTask, drainTimeout, this);
      }
      this.checkClosed();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Steps: each holds the pool, changes its state, and lets go (which delivers the notices).

  /** @internal A use subscribed: an idle connection, else a new one, else the queue, else refused. */
  acquire(use: PoolUse<A>): void {
    // The two steps every use takes hold and let go inline: no closure per request.
    this.notices.hold();
    try {
      const { books } = this;
      const { maxConnections, maxWaiting, acquireTimeout } = this.limits;
      const slot = this.state === 'open' ? this.takeIdle() : undefined;
      if (this.state !== 'open') {
        this.endUse(use, { error: new PoolClosedError() });
      } else if (slot !== undefined) {
        this.lease(slot, use);
      } else if (books.slots.size < maxConnections) {
        use.startTimer(this.scheduler, acquireTimeout);
        this.connectFor(use);
      } else if (books.waiting >= maxWaiting) {
        this.endUse(use, { error: new PoolFullError(maxWaiting) });
      } else {
        use.startTimer(this.scheduler, acquireTimeout);
        use.enter('waiting');
        books.enqueue(use);
        this.notices.event('waited', undefined, undefined, undefined, use);
      }
    } finally {
      this.notices.letGo();
    }
  }

  /** @internal The use's subscriber left (or left while taking a value, and `f` went on). */
  cancelled(use: PoolUse<A>): void {
    this.step(() => this.endWith(use, undefined, 'unsubscribed'));
  }

  /** @internal `f`'s Observable completed. */
  completed(use: PoolUse<A>): void {
    this.notices.hold();
    try {
      const slot = use.slot!;
      this.endUse(use, 'complete');
      this.giveBack(slot);
      this.dispatch();
      this.checkClosed();
    } finally {
      this.notices.letGo();
    }
  }

  /** @internal `f` threw, its Observable errored, or an event about the use threw. */
  failed(use: PoolUse<A>, error: unknown): void {
    this.step(() => this.endWith(use, { error }, 'failed', error));
  }

  /** @internal */
  acquireExpired(use: PoolUse<A>): void {
    const error = new AcquireTimeoutError(this.limits.acquireTimeout);
    this.step(() => {
      if (use.state === 'waiting' || use.state === 'connecting') this.endWith(use, { error }, 'cancelled');
    });
  }

  /** @internal */
  connected(slot: PooledConnection<A>): void {
    this.step(() => {
      if (slot.state !== 'connecting') return;
      slot.watchPeer();
      this.notices.event('created', slot);
      this.lease(slot, slot.user!);
    });
  }

  /** @internal */
  connectFailed(slot: PooledConnection<A>, error: unknown): void {
    this.step(() => {
      if (slot.state === 'connecting') this.endWith(slot.user!, { error }, 'connectFailed', error);
    });
  }

  /** @internal Idle, it is retired; leased, it will be when given back. */
  peerDone(slot: PooledConnection<A>): void {
    this.step(() => {
      if (slot.state === 'idle') this.retire(slot, 'peerDone');
    });
  }

  /** @internal */
  idleTimerRang(slot: PooledConnection<A>): void {
    this.step(() => {
      if (slot.state !== 'idle') return;
      const left = slot.idleSince + this.limits.idleTimeout - this.scheduler.now();
      if (left > 0) slot.idleTimerIn(this.scheduler, left);
      else this.retire(slot, 'idleTimeout');
    });
  }

  /** @internal */
  closeDone(slot: PooledConnection<A>): void {
    this.step(() => {
      if (slot.state !== 'closing') return;
      this.books.move(slot, 'closed');
      this.checkClosed();
    });
  }

  /** @internal `close()`'s `drainTimeout` ran out. */
  drainExpired(): void {
    this.drainTimer = undefined;
    this.step(() => {
      for (const slot of Array.from(this.books.slots)) {
        if (slot.state === 'leased')
          this.endWith(slot.user!, { error: new PoolClosedError() }, 'drainTimeout');
      }
    });
  }

  /** @internal */
  unclaimed(error: unknown): void {
    this.notices.unclaimed(error);
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions.

  /** Ends `use` with `outcome` (none: unsubscribed), whatever it was doing; frees what it held. */
  private endWith(
    use: PoolUse<A>,
    outcome: UseOutcome | undefined,
    reason: PoolDestroyReason,
    error?: unknown,
  ): void {
    const { state, slot } = use;
    if (state === 'done') return;
    this.endUse(use, outcome);
    if (state === 'waiting') this.books.dequeue(use);
    else if (state === 'leased') this.giveBack(slot!);
    else if (state === 'connecting')
      this.retire(slot!, reason === 'connectFailed' ? reason : 'cancelled', error);
    else if (state === 'running') this.retire(slot!, reason, error, 'reset');
    this.dispatch();
    this.checkClosed();
  }

  private endUse(use: PoolUse<A>, outcome: UseOutcome | undefined): void {
    use.stopTimer();
    use.stop();
    use.outcome = outcome;
    use.enter('done');
    use.slot = undefined;
    this.notices.use(use);
  }

  private connectFor(use: PoolUse<A>): void {
    const slot = new PooledConnection<A>(this);
    this.books.move(slot, 'connecting');
    slot.user = use;
    use.slot = slot;
    use.enter('connecting');
    this.connect$.subscribe(slot);
  }

  private lease(slot: PooledConnection<A>, use: PoolUse<A>): void {
    if (slot.state !== 'leased') this.books.move(slot, 'leased');
    slot.user = use;
    use.slot = slot;
    use.stopTimer();
    use.enter('leased');
    this.notices.event('leased', slot);
    this.notices.use(use);
  }

  /** A use is done with `slot`: to the first waiter, idle, or out if it cannot serve again. */
  private giveBack(slot: PooledConnection<A>): void {
    slot.user = undefined;
    const next = this.books.firstWaiter();
    if (this.state !== 'open') {
      this.retire(slot, 'poolClosed');
    } else if (!slot.reusable()) {
      this.retire(slot, slot.peerIsDone ? 'peerDone' : 'unusable');
    } else if (next !== undefined) {
      this.notices.event('released', slot);
      this.books.dequeue(next);
      this.lease(slot, next);
    } else {
      this.books.move(slot, 'idle');
      slot.becameIdle(this.scheduler, this.limits.idleTimeout);
      this.notices.event('released', slot);
    }
  }

  /** Takes `slot` out of the pool and closes it (or cancels its connect). */
  private retire(slot: PooledConnection<A>, reason: PoolDestroyReason, error?: unknown, how?: 'reset'): void {
    slot.retire();
    slot.user = undefined;
    const made = slot.connection !== undefined;
    this.books.move(slot, made ? 'closing' : 'closed');
    this.notices.event('destroyed', slot, reason, error);
    if (made) slot.shut(how ?? 'close');
  }

  /** The one place the pool changes state. */
  private enterState(next: PoolState): void {
    if (next !== (this.state === 'open' ? 'draining' : 'closed') || this.state === 'closed') {
      throw new Error(`ConnectionPool: cannot go from ${this.state} to ${next}`);
    }
    this.state = next;
    if (next === 'closed') {
      this.drainTimer?.unsubscribe();
      this.drainTimer = undefined;
    }
  }

  /** While uses wait: lease them idle connections, or make connections for them below the bound. */
  private dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    const { books } = this;
    try {
      for (
        let use = books.firstWaiter();
        use !== undefined && this.state === 'open';
        use = books.firstWaiter()
      ) {
        const slot = this.takeIdle();
        if (slot === undefined && books.slots.size >= this.limits.maxConnections) break;
        books.dequeue(use);
        if (slot !== undefined) this.lease(slot, use);
        else this.connectFor(use);
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Draining with no use left: closed; closed with no socket left closing: settle. */
  private checkClosed(): void {
    const { books } = this;
    if (this.state === 'draining' && books.leased === 0 && books.connecting === 0) this.enterState('closed');
    if (this.state === 'closed' && books.closing === 0 && !this.settleQueued) {
      this.settleQueued = true;
      this.notices.event('closed');
      this.notices.settle();
    }
  }

  /** The most recently idle connection that can serve; those that cannot are retired on the way. */
  private takeIdle(): PooledConnection<A> | undefined {
    const { idle } = this.books;
    while (idle.length > 0) {
      const slot = idle[idle.length - 1];
      if (slot.reusable()) return slot;
      this.retire(slot, slot.peerIsDone ? 'peerDone' : 'unusable');
    }
    return undefined;
  }

  /** @internal Runs `change` as one step: events and outcomes go out once the counts are whole again. */
  protected step(change: () => void): void {
    this.notices.hold();
    try {
      change();
    } finally {
      this.notices.letGo();
    }
  }
}

function drainTask(this: SchedulerAction<{ drainExpired(): void }>, pool?: { drainExpired(): void }): void {
  pool!.drainExpired();
}
