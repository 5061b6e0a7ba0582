import type { Subscriber } from 'rxjs';
import { type Consumer, type ReaderSlot, settle } from './consumer';

/**
 * @internal A subscription to the Reader itself: every chunk as it arrived, until end of stream. A
 * chunk arriving while nothing is queued goes straight to the subscriber, never through the queue.
 */
export class ChunkSubscription implements Consumer {
  constructor(
    private readonly reader: ReaderSlot,
    readonly subscriber: Subscriber<Buffer>,
  ) {}

  /** Hands over a chunk that arrived while nothing was queued. */
  deliver(chunk: Buffer): void {
    try {
      this.subscriber.next(chunk);
    } catch (error) {
      this.fail(error);
    }
  }

  pump(): void {
    const { reader, subscriber } = this;
    try {
      // A subscriber closed while it is attached (by `take(n)` during the first pump) has no
      // teardown in place yet: it leaves the chunks after the ones it took for the next read.
      while (reader.consumer === this && !subscriber.closed) {
        const chunk = reader.queue.shift();
        if (chunk === undefined) break;
        subscriber.next(chunk);
      }
      if (reader.consumer === this) settle(reader, this, undefined);
    } catch (error) {
      this.fail(error);
    }
  }

  unsubscribe(): void {
    this.reader.release(this);
  }

  /**
   * A subscriber threw: not one of RxJS's, which catch, but a hand-made one. Its error goes to it,
   * never into the socket event that brought the bytes.
   */
  private fail(error: unknown): void {
    this.reader.release(this);
    this.subscriber.error(error);
  }
}
