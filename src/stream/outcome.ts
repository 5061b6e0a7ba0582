import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';

/** From this many waiters on, adding one now and then first drops those that unsubscribed. */
const PRUNE_ABOVE = 8;

/**
 * The result of something that finishes once (a close, a flush): a hot Observable<void> that emits
 * once and completes when the thing is done, or errors, and replays that outcome to late
 * subscribers. Cheaper than an AsyncSubject per connection: nothing is allocated until someone
 * subscribes before the outcome is known, and a waiter costs its subscriber only (no teardown, no
 * array for the usual single waiter): one that unsubscribes is skipped when the outcome comes, and
 * dropped before then if waiters pile up.
 *
 * Whoever settles it keeps the outcome; callers get {@link asObservable}, which cannot settle it.
 */
export class Outcome extends Observable<void> {
  /** `done`: emitted and completed; `empty`: completed without a value; `failed`: errored. */
  private state: 'pending' | 'done' | 'empty' | 'failed' = 'pending';
  private error: unknown;
  private waiters: Subscriber<void> | Subscriber<void>[] | undefined;
  /** What {@link asObservable} returns, made when first asked for. */
  private view: Observable<void> | undefined;

  get settled(): boolean {
    return this.state !== 'pending';
  }

  /** True while someone waits for the outcome. */
  get observed(): boolean {
    const { waiters } = this;
    if (waiters === undefined) return false;
    if (!Array.isArray(waiters)) return !waiters.closed;
    return waiters.some((waiter) => !waiter.closed);
  }

  /**
   * The outcome as a plain `Observable<void>`, for callers: it has none of `resolve`, `complete`
   * and `reject`, as a Subject's `asObservable()` has no `next`. The same one every time.
   */
  asObservable(): Observable<void> {
    this.view ??= new OutcomeObservable(this);
    return this.view;
  }

  /** @internal A subscription to the outcome. */
  protected _subscribe(subscriber: Subscriber<void>): TeardownLogic {
    this.attach(subscriber);
    return undefined;
  }

  /** @internal Waits for the outcome with `subscriber`, or delivers it at once if it is known. */
  attach(subscriber: Subscriber<void>): void {
    if (this.state === 'pending') this.wait(subscriber);
    else this.deliver(subscriber);
  }

  resolve(): void {
    if (this.state !== 'pending') return;
    this.state = 'done';
    this.flush();
  }

  /** Completes without a value: what was waited for will not happen. */
  complete(): void {
    if (this.state !== 'pending') return;
    this.state = 'empty';
    this.flush();
  }

  reject(error: unknown): void {
    if (this.state !== 'pending') return;
    this.state = 'failed';
    this.error = error;
    this.flush();
  }

  private wait(subscriber: Subscriber<void>): void {
    const { waiters } = this;
    if (waiters === undefined) {
      this.waiters = subscriber;
    } else if (!Array.isArray(waiters)) {
      this.waiters = waiters.closed ? subscriber : [waiters, subscriber];
    } else {
      // At each power of two past PRUNE_ABOVE, so that pruning costs O(1) per waiter added.
      const n = waiters.length;
      if (n >= PRUNE_ABOVE && (n & (n - 1)) === 0) {
        const open = waiters.filter((waiter) => !waiter.closed);
        open.push(subscriber);
        this.waiters = open;
      } else {
        waiters.push(subscriber);
      }
    }
  }

  private flush(): void {
    const { waiters } = this;
    this.waiters = undefined;
    if (waiters === undefined) return;
    if (!Array.isArray(waiters)) {
      if (!waiters.closed) this.deliver(waiters);
      return;
    }
    for (const subscriber of waiters) if (!subscriber.closed) this.deliver(subscriber);
  }

  private deliver(subscriber: Subscriber<void>): void {
    if (this.state === 'failed') {
      subscriber.error(this.error);
    } else {
      if (this.state === 'done') subscriber.next();
      subscriber.complete();
    }
  }
}

/** The Observable side of an {@link Outcome}: subscribing waits for it, nothing else. */
class OutcomeObservable extends Observable<void> {
  constructor(private readonly outcome: Outcome) {
    super();
  }

  /** @internal */
  protected _subscribe(subscriber: Subscriber<void>): TeardownLogic {
    this.outcome.attach(subscriber);
    return undefined;
  }
}

/** An Observable<void> that emits and completes at once, for any number of subscribers. */
export const DONE: Observable<void> = (() => {
  const done = new Outcome();
  done.resolve();
  return done.asObservable();
})();
