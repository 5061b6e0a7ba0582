import { asapScheduler, Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import type { FrameDecoder } from '../bytes/frame-decoder';
import { type Consumer, type ReaderSlot, settle } from './consumer';
import { EOF } from './eof';

/**
 * @internal A one-value read (`read`, `readLine`, `readUntil`, `reallyRead`, `contents`): the first
 * frame `decoder` cuts, or `atEnd` at end of stream when no byte is left. The decoder is made by the
 * call, so that its arguments are checked before subscribing.
 */
export function pullOne<T>(
  reader: ReaderSlot,
  decoder: FrameDecoder<T>,
  atEnd: T | EOF = EOF,
): Observable<T | EOF> {
  return new PullObservable(reader, decoder, atEnd);
}

/** @internal Every frame the decoder made for each subscription cuts, until end of stream (`lines`). */
export function pullEach<T>(reader: ReaderSlot, createDecoder: () => FrameDecoder<T>): Observable<T> {
  return new Observable<T>((subscriber) => reader.attach(Pull.each(reader, createDecoder(), subscriber)));
}

/** How many pull reads in a row a reader answers from its buffer at once before one waits a microtask. */
const MAX_ANSWERED_IN_A_ROW = 100;

class PullObservable<T> extends Observable<T | EOF> {
  constructor(
    private readonly reader: ReaderSlot,
    private readonly decoder: FrameDecoder<T>,
    private readonly atEnd: T | EOF,
  ) {
    super();
  }

  protected _subscribe(subscriber: Subscriber<T | EOF>): TeardownLogic {
    const { reader } = this;
    if (reader.answeredInARow < MAX_ANSWERED_IN_A_ROW) return this.subscribeNow(subscriber);
    reader.answeredInARow = 0;
    // A read loop written as `defer(() => reader.readLine()).pipe(repeat())` starts the next read
    // from the last one's completion, one stack frame deeper each time: over a peer's thousands of
    // pipelined lines, each answered at once, the stack would overflow. Now and then a read starts
    // on a fresh stack instead.
    // (asapScheduler: a microtask, which TestScheduler.run makes virtual, in the same frame.)
    let teardown: TeardownLogic;
    const start = asapScheduler.schedule(() => {
      teardown = this.subscribeNow(subscriber);
    });
    return () => {
      start.unsubscribe();
      if (teardown instanceof Pull) teardown.unsubscribe();
    };
  }

  private subscribeNow(subscriber: Subscriber<T | EOF>): TeardownLogic {
    const { reader } = this;
    // The frame is buffered already (a pipelined request, say): no consumer to set up and release.
    let frame: T | undefined;
    try {
      frame = this.takeBuffered();
    } catch (error) {
      subscriber.error(error);
      return undefined;
    }
    if (frame !== undefined) {
      reader.answeredInARow++;
      subscriber.next(frame);
      subscriber.complete();
      return undefined;
    }
    reader.answeredInARow = 0;
    return reader.attach(Pull.one(reader, this.decoder, subscriber, this.atEnd));
  }

  /**
   * The next frame the decoder cuts from the bytes buffered, when nobody else reads and the reader
   * is not closed; `undefined` otherwise. Throws what the decoder throws.
   */
  private takeBuffered(): T | undefined {
    const { reader } = this;
    if (reader.consumer !== null || reader.state === 'closed' || reader.queue.length === 0) return undefined;
    const frame = this.decoder.decode(reader.queue);
    if (frame !== undefined) reader.regulate();
    return frame;
  }
}

/**
 * A consumer cutting frames with a decoder and emitting them: a one-value read, completed after its
 * first frame, or a stream of them. A class with one shape, rather than closures, for the reads of a
 * request/response loop.
 */
class Pull<T> implements Consumer {
  /** A one-value read: its first frame, or `atEnd` at end of stream when no byte is left. */
  static one<T>(
    reader: ReaderSlot,
    decoder: FrameDecoder<T>,
    subscriber: Subscriber<T | EOF>,
    atEnd: T | EOF,
  ) {
    return new Pull(reader, decoder, subscriber, true, atEnd);
  }

  /** Every frame, until end of stream. */
  static each<T>(reader: ReaderSlot, decoder: FrameDecoder<T>, subscriber: Subscriber<T>) {
    return new Pull(reader, decoder, subscriber, false, undefined);
  }

  private constructor(
    private readonly reader: ReaderSlot,
    private readonly decoder: FrameDecoder<T>,
    readonly subscriber: Subscriber<T | EOF>,
    /** A one-value read: completes after the first frame. */
    private readonly once: boolean,
    /** What a one-value read gives at end of stream when no byte is left. */
    private readonly atEnd: T | EOF | undefined,
  ) {}

  /**
   * Emits every frame the decoder cuts (only the first, for a one-value read). At end of stream the
   * decoder's last frame is emitted, or, for a one-value read that got nothing, its `atEnd`.
   */
  pump(): void {
    const { reader, decoder, subscriber, once } = this;
    try {
      // A subscriber closed while it is attached (by `take(n)` during the first pump) has no
      // teardown in place yet: it leaves the frames after the ones it took for the next read.
      while (reader.consumer === this && !subscriber.closed) {
        const frame = decoder.decode(reader.queue);
        if (frame === undefined) break;
        if (once) reader.release(this);
        subscriber.next(frame);
        if (once) {
          subscriber.complete();
          return;
        }
      }
      if (reader.consumer !== this || subscriber.closed) return;
      if (reader.state === 'ended') {
        const last = decoder.finish(reader.queue);
        if (last !== undefined) {
          reader.release(this);
          subscriber.next(last);
          subscriber.complete();
          return;
        }
      }
      settle(reader, this, this.atEnd);
    } catch (error) {
      reader.release(this);
      subscriber.error(error);
    }
  }

  unsubscribe(): void {
    this.reader.release(this);
  }
}
