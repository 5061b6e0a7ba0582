import { Observable, Subject, type Subscriber, type Subscription, type TeardownLogic } from 'rxjs';
import type { Address } from '../address';
import { GuardedSubscriber, isSubscriberAlready, type SubscribeArguments } from './pool-guarded-subscriber';
import type { PoolEvent } from './pool-options';

/** What the event stream tells its pool: a throw of a direct subscriber, and errors nobody takes. */
export interface PoolEventsOwner {
  /** A direct subscriber's `next` threw while taking the event being emitted. */
  eventThrew(error: unknown, subscriber: { error(error: unknown): void }): void;
  unclaimed(error: unknown): void;
}

/**
 * `pool.events`: hot, not replayed, completing after the `closed` event. A direct subscriber is
 * guarded ({@link GuardedSubscriber}), so that its throw is the pool's to route, never Node's.
 */
export class PoolEventStream<A extends Address> extends Observable<PoolEvent<A>> {
  private readonly subject = new Subject<PoolEvent<A>>();

  constructor(private readonly owner: PoolEventsOwner) {
    super();
  }

  /** True while someone listens: events are made only then. */
  get observed(): boolean {
    return this.subject.observed;
  }

  override subscribe(...args: SubscribeArguments<PoolEvent<A>>): Subscription {
    const [observerOrNext] = args;
    if (isSubscriberAlready(observerOrNext)) {
      return super.subscribe(observerOrNext as Subscriber<PoolEvent<A>>);
    }
    const { owner } = this;
    return super.subscribe(
      new GuardedSubscriber<PoolEvent<A>>(
        args,
        (error) => owner.unclaimed(error),
        (error, subscriber) => owner.eventThrew(error, subscriber),
      ),
    );
  }

  /** @internal */
  protected _subscribe(subscriber: Subscriber<PoolEvent<A>>): TeardownLogic {
    return this.subject.subscribe(subscriber);
  }

  emit(event: PoolEvent<A>): void {
    this.subject.next(event);
  }

  end(): void {
    this.subject.complete();
  }
}
