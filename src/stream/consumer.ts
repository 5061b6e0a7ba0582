import type { Subscriber, TeardownLogic } from 'rxjs';
import type { ByteQueue } from '../bytes/byte-queue';

/** Where a Reader's stream is: `ended` at the peer's FIN, `failed` on an error, `closed` by `close()`. */
export type ReaderState = 'open' | 'ended' | 'failed' | 'closed';

/**
 * @internal One consumption of a Reader, the only one while it lasts: a push subscription, a pull
 * read, `lines()` or `transfer()`. It is also its subscription's teardown.
 */
export interface Consumer {
  /** Whom the consumption is for: a consumer that may not start errors it. */
  readonly subscriber: Subscriber<never>;
  /** Takes what it can of the bytes queued, and ends itself once the stream is no longer open. */
  pump(): void;
  /**
   * True while it takes no more bytes for now (a transfer waiting for its writer to flush): only
   * then, or with no consumer, is the socket paused for bytes waiting unread. Absent: never.
   */
  readonly stalled?: boolean;
  unsubscribe(): void;
}

/** @internal What a consumer reaches of its Reader: the bytes, the stream's state and the consumer slot. */
export interface ReaderSlot {
  /** Bytes received and not read yet; only the consumer in the slot takes from them. */
  readonly queue: ByteQueue;
  /** How many unread bytes are held before the socket is paused. */
  readonly bufferSize: number;
  readonly state: ReaderState;
  /** What the stream failed with, in state `failed`. */
  readonly failure: unknown;
  /** The consumer in the slot, or `null`. */
  readonly consumer: Consumer | null;
  /** Pull reads answered from the buffer at once since one last waited (see `pull.ts`). */
  answeredInARow: number;
  /**
   * Puts `consumer` in the slot and pumps it; returns its teardown (the consumer), or `undefined`
   * once it has errored its subscriber because it may not read now.
   */
  attach(consumer: Consumer): TeardownLogic;
  /** Empties the slot if `consumer` holds it. */
  release(consumer: Consumer): void;
  /** Pauses or resumes the socket to match the bytes waiting and the consumer's appetite. */
  regulate(): void;
}

/**
 * Ends `consumer` once the stream is no longer open: errors it on a failed one; otherwise gives it
 * `atEnd`, if any (a one-value read's `EOF`), and completes it.
 */
export function settle<T>(
  reader: ReaderSlot,
  consumer: Consumer & { readonly subscriber: Subscriber<T> },
  atEnd: T | undefined,
): void {
  if (reader.state === 'open') return;
  reader.release(consumer);
  const { subscriber } = consumer;
  if (reader.state === 'failed') {
    subscriber.error(reader.failure);
    return;
  }
  if (atEnd !== undefined) subscriber.next(atEnd);
  subscriber.complete();
}
