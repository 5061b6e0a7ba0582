import {
  asapScheduler,
  from,
  Observable,
  type ObservableInput,
  type SchedulerAction,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
  type TeardownLogic,
} from 'rxjs';
import type { Address } from '../address';
import { BareSubscriber } from '../bare-subscriber';
import type { Connection } from '../connection';
import { type DeadlineQueue, type Due, deadlineQueue } from './deadline-queue';
import { GuardedSubscriber, isSubscriberAlready, type SubscribeArguments } from './pool-guarded-subscriber';

/**
 * Where one use (one subscription of `pool.use(f)`) is in its life. Entered in one place,
 * {@link Use.enter}; the pool decides when.
 *
 * - `new`: subscribed, not yet seen by the pool;
 * - `waiting`: in the pool's queue, for a connection to come free;
 * - `connecting`: a connection is being made for it;
 * - `leased`: it holds a connection, and `f` starts once the pool's current step is done;
 * - `running`: `f`'s Observable runs on the connection;
 * - `done`: it gave its connection back (or never had one); only its outcome is left to deliver.
 */
export type UseState = 'new' | 'waiting' | 'connecting' | 'leased' | 'running' | 'done';

const NEXT_STATES: Record<UseState, readonly UseState[]> = {
  new: ['waiting', 'connecting', 'leased', 'done'],
  waiting: ['connecting', 'leased', 'done'],
  connecting: ['leased', 'done'],
  leased: ['running', 'done'],
  running: ['done'],
  done: [],
};

/** How a use ended, for its subscriber: completed, or an error. */
export type UseOutcome = 'complete' | { error: unknown };

/** What a use tells its pool. Each call is a step of the pool's state machine. */
export interface UseOwner<A extends Address, S> {
  /** A subscription began: lease, connect, queue or refuse. */
  acquire(use: Use<A, S>): void;
  /** The subscription ended before the use did (or, taking a value, `f` did not complete in that turn). */
  cancelled(use: Use<A, S>): void;
  /** `f`'s Observable completed. */
  completed(use: Use<A, S>): void;
  /** `f` threw, or its Observable errored. */
  failed(use: Use<A, S>, error: unknown): void;
  /** The acquire timeout ran out. */
  acquireExpired(use: Use<A, S>): void;
  /** An error no subscriber can take. */
  unclaimed(error: unknown): void;
}

/**
 * One subscription of `pool.use(f)`: its state, its place in the acquire timeouts, and `f`'s
 * Observable once it runs. The pool holds the connection; the use holds `slot`, a token of it.
 */
export class Use<A extends Address, S, T = unknown> implements Due {
  state: UseState = 'new';
  /** The pool's record of the connection held, or being made, for this use. */
  slot: S | undefined;
  /** When the acquire timeout runs out, by the scheduler's clock. */
  deadline = 0;
  older: Due | undefined;
  newer: Due | undefined;
  /** The pool's queue of waiting uses: the one ahead of this one, and the one behind. */
  ahead: Use<A, S> | undefined;
  behind: Use<A, S> | undefined;
  /** The shared deadlines this use is in, or its own timer where they cannot time it. */
  private deadlines: DeadlineQueue | undefined;
  private timer: Subscription | undefined;
  /** Set once it is `done`: what its subscriber is told, unless it unsubscribed. */
  outcome: UseOutcome | undefined;
  private notified = false;
  private inner: UseInner<T> | undefined;
  /** True while a value of `f` is being handed to the subscriber. */
  private delivering = false;
  /** The check that cuts off a use unsubscribed while taking a value (see `unsubscribe`). */
  private cutCheck: Subscription | undefined;

  constructor(
    private readonly owner: UseOwner<A, S>,
    private readonly f: (connection: Connection<A>) => ObservableInput<T>,
    private readonly subscriber: Subscriber<T>,
  ) {}

  /** The one place a use changes state; a transition the table does not allow is a bug. */
  enter(next: UseState): void {
    if (!NEXT_STATES[this.state].includes(next)) {
      throw new Error(`ConnectionPool: a use cannot go from ${this.state} to ${next}`);
    }
    this.state = next;
  }

  /**
   * The subscription's teardown. Unsubscribed while taking a value (`firstValueFrom`, `take(1)`),
   * the use is cut off only if `f` does not complete in that same turn: a Promise, `readLine()` or
   * `of(x)` completes right after its value, and its connection is then clean to reuse. The check
   * runs on `asapScheduler`, once this turn's microtasks are done (in virtual time inside
   * `TestScheduler.run`): a timer of the pool's scheduler would let a streaming `f` run on a tick.
   */
  unsubscribe(): void {
    if (this.state === 'done') return;
    if (this.state === 'running' && this.delivering) {
      this.cutCheck ??= asapScheduler.schedule(cutTask, 0, this);
      return;
    }
    this.owner.cancelled(this as Use<A, S>);
  }

  /** Starts the acquire timeout: in the scheduler's shared deadlines where it can, else a timer of its own. */
  startTimer(scheduler: SchedulerLike, timeout: number): void {
    if (timeout === Number.POSITIVE_INFINITY) return;
    this.deadline = scheduler.now() + timeout;
    const deadlines = deadlineQueue(scheduler);
    if (deadlines?.add(this)) this.deadlines = deadlines;
    else this.timer = scheduler.schedule(acquireTask, timeout, this);
  }

  stopTimer(): void {
    this.deadlines?.remove(this);
    this.deadlines = undefined;
    this.timer?.unsubscribe();
    this.timer = undefined;
  }

  /** The acquire timeout ran out (`Due`). */
  expired(): void {
    this.owner.acquireExpired(this as Use<A, S>);
  }

  /** @internal The cut-off check is due. */
  cutDue(): void {
    this.cutCheck = undefined;
    if (this.state === 'running') this.owner.cancelled(this as Use<A, S>);
  }

  /** What the pool's queue of notices does with this use: start `f`, or tell the outcome. */
  deliver(connection: Connection<A> | undefined): void {
    if (this.state === 'leased') {
      this.run(connection!);
      return;
    }
    if (this.state !== 'done' || this.notified) return;
    this.notified = true;
    const { subscriber, outcome } = this;
    if (outcome === undefined || subscriber.closed) return;
    if (outcome === 'complete') subscriber.complete();
    else subscriber.error(outcome.error);
  }

  /** Stops `f`'s Observable and any pending check: the use is over. */
  stop(): void {
    this.inner?.unsubscribe();
    this.cutCheck?.unsubscribe();
    this.cutCheck = undefined;
  }

  private run(connection: Connection<A>): void {
    this.enter('running');
    let input: Observable<T>;
    try {
      // `from` throws too, at once, when f returned no ObservableInput.
      input = from(this.f(connection));
    } catch (error) {
      this.owner.failed(this as Use<A, S>, error);
      return;
    }
    const inner = new UseInner(this);
    this.inner = inner;
    input.subscribe(inner);
  }

  /** @internal A value of `f`. */
  value(value: T): void {
    const { subscriber } = this;
    if (subscriber.closed) return;
    this.delivering = true;
    try {
      subscriber.next(value);
    } finally {
      this.delivering = false;
    }
  }

  /** @internal `f`'s Observable completed. */
  innerCompleted(): void {
    if (this.state === 'running') this.owner.completed(this as Use<A, S>);
  }

  /** @internal `f`'s Observable errored. */
  innerFailed(error: unknown): void {
    if (this.state === 'running') this.owner.failed(this as Use<A, S>, error);
  }
}

function acquireTask(this: SchedulerAction<{ expired(): void }>, use?: { expired(): void }): void {
  use!.expired();
}

function cutTask(this: SchedulerAction<{ cutDue(): void }>, use?: { cutDue(): void }): void {
  use!.cutDue();
}

/** What the subscriber of `f`'s Observable tells its use. */
interface InnerOwner<T> {
  value(value: T): void;
  innerFailed(error: unknown): void;
  innerCompleted(): void;
}

/** The subscriber of `f`'s Observable: one small object per use, no closures. */
class UseInner<T> extends BareSubscriber<T> {
  constructor(private readonly use: InnerOwner<T>) {
    super();
  }

  next(value: T): void {
    if (!this.closed) this.use.value(value);
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    this.use.innerFailed(error);
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.use.innerCompleted();
  }
}

/**
 * What `pool.use(f)` returns: cold, each subscription a new {@link Use}. A direct subscriber is
 * guarded ({@link GuardedSubscriber}): a throw from its `next` is its error, and the use ends.
 */
export class UseObservable<A extends Address, S, T> extends Observable<T> {
  constructor(
    private readonly owner: UseOwner<A, S>,
    private readonly f: (connection: Connection<A>) => ObservableInput<T>,
  ) {
    super();
  }

  override subscribe(
    observerOrNext?: SubscribeArguments<T>[0],
    error?: SubscribeArguments<T>[1],
    complete?: SubscribeArguments<T>[2],
  ): Subscription {
    if (isSubscriberAlready(observerOrNext)) return super.subscribe(observerOrNext as Subscriber<T>);
    const { owner } = this;
    const guarded = new GuardedSubscriber<T>([observerOrNext, error, complete], (e) => owner.unclaimed(e));
    return super.subscribe(guarded);
  }

  /** @internal */
  protected _subscribe(subscriber: Subscriber<T>): TeardownLogic {
    const use = new Use<A, S, T>(this.owner, this.f, subscriber);
    this.owner.acquire(use as Use<A, S>);
    return use;
  }
}
