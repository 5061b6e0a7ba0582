import { Observable, type Subscriber, type TeardownLogic, type Unsubscribable } from 'rxjs';
import { type Consumer, type ReaderSlot, settle } from './consumer';
import type { Writer, WriterWatcher } from './writer';

/**
 * @internal `reader.transfer(writer, f)`: every chunk (mapped by `f`) into `writer`, taking the
 * next chunk only while the writer's unflushed bytes are below the reader's buffer size. An
 * Observable and, per subscription, a consumer object, rather than closures, since a server may
 * hold one per connection for the connection's lifetime.
 */
export function transfer(
  reader: ReaderSlot,
  writer: Writer,
  f: ((chunk: Buffer) => string | Uint8Array) | undefined,
): Observable<void> {
  return new TransferObservable(reader, writer, f);
}

class TransferObservable extends Observable<void> {
  constructor(
    private readonly reader: ReaderSlot,
    private readonly writer: Writer,
    private readonly f: ((chunk: Buffer) => string | Uint8Array) | undefined,
  ) {
    super();
  }

  protected _subscribe(subscriber: Subscriber<void>): TeardownLogic {
    const transfer = new Transfer(this.reader, this.writer, this.f, subscriber);
    const teardown = this.reader.attach(transfer);
    // Watched once it reads: a writer that stopped already ends the transfer here and now.
    if (teardown !== undefined && !subscriber.closed) this.writer.watch(transfer);
    return teardown;
  }
}

/**
 * One running transfer: the reader's consumer, its writer's watcher, and the subscription's
 * teardown. It takes chunks, or, while `waiting`, waits for the writer to flush.
 */
class Transfer implements Consumer, WriterWatcher {
  /** While the writer flushes: the subscription to its `flushed()`. */
  private waiting: Unsubscribable | undefined = undefined;

  constructor(
    private readonly reader: ReaderSlot,
    private readonly writer: Writer,
    private readonly f: ((chunk: Buffer) => string | Uint8Array) | undefined,
    readonly subscriber: Subscriber<void>,
  ) {}

  get stalled(): boolean {
    return this.waiting !== undefined;
  }

  /** Moves queued chunks into the writer until the writer must flush first. */
  pump(): void {
    const { reader, writer, f } = this;
    try {
      // A writer that stopped taking bytes has ended the transfer, or is about to (its watcher).
      while (reader.consumer === this && this.waiting === undefined && writer.state === 'open') {
        const chunk = reader.queue.shift();
        if (chunk === undefined) break;
        writer.write(f === undefined ? chunk : f(chunk));
        if (writer.bytesToWrite >= reader.bufferSize) this.awaitFlush();
      }
    } catch (error) {
      // `f` threw: the transfer's error, never the socket event's that brought the bytes.
      this.end(error);
      return;
    }
    if (reader.consumer === this && this.waiting === undefined && reader.queue.length === 0) {
      settle(reader, this, undefined);
    }
  }

  writerStopped(failure: unknown): void {
    this.end(failure);
  }

  /** The teardown: lets go of the writer (no flush wait, no watch) and of the reader. */
  unsubscribe(): void {
    this.waiting?.unsubscribe();
    this.waiting = undefined;
    this.writer.unwatch(this);
    this.reader.release(this);
  }

  /** Completes (`failure` undefined) or errors the transfer, at most once. */
  private end(failure: unknown): void {
    if (this.reader.consumer !== this) return;
    this.reader.release(this);
    // The subscriber's teardown (unsubscribe) lets go of the writer.
    if (failure === undefined) this.subscriber.complete();
    else this.subscriber.error(failure);
  }

  /** Stops taking chunks until the writer has flushed. */
  private awaitFlush(): void {
    // flushed() emits during subscribe when the OS takes everything at once: go on then.
    let subscribing = true;
    let flushedAtOnce = false;
    const wait = this.writer.flushed().subscribe({
      next: () => {
        if (subscribing) {
          flushedAtOnce = true;
          return;
        }
        this.waiting = undefined;
        this.pump();
        this.reader.regulate();
      },
      error: (error) => this.end(error),
    });
    subscribing = false;
    if (!flushedAtOnce) this.waiting = wait;
  }
}
