import { type Observer, Subscription } from 'rxjs';

/**
 * @internal An Observer that is also a `Subscription`, which RxJS takes as a subscriber of its own:
 * `subscribe(bare)` uses the object as it is instead of wrapping it in a `SafeSubscriber` (one
 * subscriber, one observer and three bound functions per subscription). For objects a server holds
 * one of per connection. RxJS does not document this (its `isSubscriber` checks for a
 * `Subscription` with `next`, `error` and `complete`); `spec/bare-subscriber.spec.ts` fails if
 * that changes.
 *
 * Without the wrapper nobody guards the contract, so a subclass keeps it: nothing is handled after
 * `error`, `complete` or `unsubscribe` (check `closed`), and `error` and `complete` unsubscribe.
 */
export abstract class BareSubscriber<T> extends Subscription implements Observer<T> {
  abstract next(value: T): void;
  abstract error(error: unknown): void;
  abstract complete(): void;
}
