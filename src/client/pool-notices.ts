import { throwError } from 'rxjs';
import type { Address } from '../address';
import { Outcome } from '../stream/outcome';
import type { PooledConnection, PoolUse } from './pool-connection';
import { PoolEventStream, type PoolEventsOwner } from './pool-events';
import type { PoolDestroyReason, PoolEvent, PoolStats } from './pool-options';

/** An event, and the use it is about (a throw of its subscriber fails that use). */
class EventNotice<A extends Address> {
  constructor(
    readonly event: PoolEvent<A>,
    readonly about: PoolUse<A> | undefined,
  ) {}
}

/** The notice that ends the events and settles `closeFinished`. */
const SETTLE = 'settle';

/**
 * What a pool's steps have to tell — events, `f` to start, a use's outcome, the end of the close —
 * queued while a step changes the pool's state, and delivered in order once the outermost step is
 * done: code called from the pool then sees its state whole, and a step it takes in turn (a use
 * subscribed from an event, a close from a `next`) only queues more.
 */
export class PoolNotices<A extends Address> implements PoolEventsOwner {
  /** `pool.events`. */
  readonly events = new PoolEventStream<A>(this);
  /** `pool.closeFinished`. */
  readonly finished = new Outcome();
  /** How many steps are under way. */
  private depth = 0;
  private readonly queue: (PoolUse<A> | EventNotice<A> | typeof SETTLE)[] = [];
  /** The use the event being emitted is about. */
  private about: PoolUse<A> | undefined;
  /** The first error no subscriber could take: the error of `close()`. */
  private unclaimedError: { error: unknown } | undefined;

  constructor(
    private readonly books: { readonly stats: PoolStats },
    /** Fails a use the event it threw on was about. */
    private readonly failUse: (use: PoolUse<A>, error: unknown) => void,
  ) {}

  /** A step begins. */
  hold(): void {
    this.depth++;
  }

  /** A step ends; the outermost delivers the queue, still holding, so that the steps it causes only queue. */
  letGo(): void {
    if (this.depth > 1) {
      this.depth--;
      return;
    }
    const { queue } = this;
    let delivered = 0;
    try {
      while (delivered < queue.length) this.deliver(queue[delivered++]);
    } finally {
      queue.splice(0, delivered);
      this.depth--;
    }
  }

  /** Queues what `use` is due: `f` to start (it is `leased`), or its outcome (it is `done`). */
  use(use: PoolUse<A>): void {
    this.queue.push(use);
  }

  /** Queues an event, with the counts now, if anyone listens. */
  event(
    type: PoolEvent['type'],
    slot?: PooledConnection<A>,
    reason?: PoolDestroyReason,
    error?: unknown,
    about = slot?.user,
  ): void {
    if (!this.events.observed) return;
    const event: PoolEvent<A> = { type, stats: this.books.stats };
    if (slot?.address !== undefined) event.address = slot.address;
    if (reason !== undefined) event.reason = reason;
    if (error !== undefined) event.error = error;
    this.queue.push(new EventNotice(event, about));
  }

  /** Queues the end: `closed` was the last event. */
  settle(): void {
    this.queue.push(SETTLE);
  }

  /** @internal A direct subscriber of `events` threw: the use the event is about fails, else that subscriber. */
  eventThrew(error: unknown, subscriber: { error(error: unknown): void }): void {
    const { about } = this;
    if (about !== undefined && about.state !== 'done') this.failUse(about, error);
    else subscriber.error(error);
  }

  /** @internal An error no subscriber could take: `close()`'s, or, once closed, RxJS's unhandled error. */
  unclaimed(error: unknown): void {
    if (this.finished.settled) throwError(() => error).subscribe();
    else this.unclaimedError ??= { error };
  }

  private deliver(notice: PoolUse<A> | EventNotice<A> | typeof SETTLE): void {
    if (notice === SETTLE) {
      this.events.end();
      if (this.unclaimedError === undefined) this.finished.resolve();
      else this.finished.reject(this.unclaimedError.error);
    } else if (notice instanceof EventNotice) {
      this.about = notice.about;
      try {
        this.events.emit(notice.event);
      } finally {
        this.about = undefined;
      }
    } else {
      notice.deliver(notice.slot?.connection);
    }
  }
}
