import { type Observer, Subscription } from 'rxjs';
import { BareSubscriber } from '../bare-subscriber';

/** What `subscribe` is called with: an observer, a `next` function, or the deprecated three. */
export type SubscribeArguments<T> = [
  observerOrNext?: Partial<Observer<T>> | ((value: T) => void) | null,
  error?: ((error: unknown) => void) | null,
  complete?: (() => void) | null,
];

/**
 * @internal A direct subscriber of a pool's Observables (`use`, `events`), whose callbacks throw
 * nowhere near Node's event loop. RxJS wraps a plain observer in a `SafeSubscriber`, which catches a
 * throw from a callback and rethrows it from a timer, as an uncaught exception; here a throw from
 * `next` or `complete` becomes this subscriber's error notification, and an error nobody takes (no
 * `error` callback, or one that throws) goes to `unclaimed`.
 */
export class GuardedSubscriber<T> extends BareSubscriber<T> {
  private readonly observer: Partial<Observer<T>>;

  constructor(
    args: SubscribeArguments<T>,
    private readonly unclaimed: (error: unknown) => void,
    /** Told instead when `next` threw and someone else takes the error (a pool's event). */
    private readonly threw?: (error: unknown, subscriber: GuardedSubscriber<T>) => void,
  ) {
    super();
    const [observerOrNext, error, complete] = args;
    this.observer =
      typeof observerOrNext === 'function'
        ? { next: observerOrNext, error: error ?? undefined, complete: complete ?? undefined }
        : (observerOrNext ?? {});
  }

  next(value: T): void {
    if (this.closed) return;
    try {
      this.observer.next?.(value);
    } catch (thrown) {
      if (this.threw !== undefined) this.threw(thrown, this);
      else this.error(thrown);
    }
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    const { observer } = this;
    if (observer.error === undefined) {
      this.unclaimed(error);
      return;
    }
    try {
      observer.error(error);
    } catch (thrown) {
      this.unclaimed(thrown);
    }
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    try {
      this.observer.complete?.();
    } catch (thrown) {
      this.unclaimed(thrown);
    }
  }
}

/** @internal True when RxJS would use `value` as the subscriber itself (an operator's, a Subscriber). */
export function isSubscriberAlready(value: unknown): boolean {
  return value instanceof Subscription;
}
