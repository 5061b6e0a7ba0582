import { Observable, type Subscriber } from 'rxjs';

/**
 * The result of something that finishes once (a close, a flush): a hot Observable<void> that emits
 * once and completes when the thing is done, or errors, and replays that outcome to late
 * subscribers. Cheaper than an AsyncSubject per connection: nothing is allocated until someone
 * subscribes before the outcome is known.
 */
export class Outcome {
  private state: 'pending' | 'done' | 'failed' = 'pending';
  private error: unknown;
  private waiters: Subscriber<void>[] | undefined;
  private observable: Observable<void> | undefined;

  get settled(): boolean {
    return this.state !== 'pending';
  }

  /** True while someone waits for the outcome. */
  get observed(): boolean {
    return this.waiters !== undefined && this.waiters.length > 0;
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  asObservable(): Observable<void> {
    this.observable ??= new Observable<void>((subscriber) => {
      if (this.state === 'pending') {
        this.waiters ??= [];
        this.waiters.push(subscriber);
        return () => {
          const waiters = this.waiters;
          if (waiters !== undefined) {
            const i = waiters.indexOf(subscriber);
            if (i !== -1) waiters.splice(i, 1);
          }
        };
      }
      this.deliver(subscriber);
      return undefined;
    });
    return this.observable;
  }

  resolve(): void {
    if (this.state !== 'pending') return;
    this.state = 'done';
    this.flush();
  }

  reject(error: unknown): void {
    if (this.state !== 'pending') return;
    this.state = 'failed';
    this.error = error;
    this.flush();
  }

  private flush(): void {
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters !== undefined) for (const subscriber of waiters) this.deliver(subscriber);
  }

  private deliver(subscriber: Subscriber<void>): void {
    if (this.state === 'failed') {
      subscriber.error(this.error);
    } else {
      subscriber.next();
      subscriber.complete();
    }
  }
}
