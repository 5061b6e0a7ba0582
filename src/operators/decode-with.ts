import { Observable, type OperatorFunction, takeWhile } from 'rxjs';
import { ByteQueue } from '../bytes/byte-queue';
import type { FrameDecoder } from '../bytes/frame-decoder';

/**
 * The one piece of operator plumbing behind every framing operator: each subscription gets its own
 * queue and its own decoder from `createDecoder`, so no state is shared between subscriptions.
 * Every chunk is queued and as many frames as it completes are emitted; at the source's completion
 * the decoder's last frame, if any, is emitted before completing. A decoder that throws (a frame too
 * long, a truncated frame) becomes the error notification, and the bytes held are dropped.
 *
 * Chunks are queued without copying: a frame lying inside one chunk is a view of it, so a producer
 * must not overwrite a chunk after emitting it (sockets and streams never do). Strings are encoded
 * with `encoding`; anything other than a `Uint8Array` or a string is a `TypeError` notification.
 */
export function decodeWith<T>(
  createDecoder: () => FrameDecoder<T>,
  encoding: BufferEncoding = 'utf8',
): OperatorFunction<Uint8Array | string, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const queue = new ByteQueue();
      const decoder = createDecoder();

      /** Emits every frame the queue holds; false once the subscriber is closed (error or unsubscribe). */
      const drain = (): boolean => {
        for (;;) {
          let frame: T | undefined;
          try {
            frame = decoder.decode(queue);
          } catch (error) {
            queue.clear();
            subscriber.error(error);
            return false;
          }
          if (frame === undefined) return !subscriber.closed;
          subscriber.next(frame);
          // A consumer such as take(n) may have unsubscribed during next.
          if (subscriber.closed) return false;
        }
      };

      // A synchronous source emits until its subscribe call returns, before the teardown below is in
      // place: after an error, or a consumer such as take(n) leaving, it would go on for ever. takeWhile
      // closes the source's own subscriber at its next chunk, which stops such a source.
      const subscription = source.pipe(takeWhile(() => !subscriber.closed)).subscribe({
        next: (chunk) => {
          const bytes = chunkBytes(chunk, encoding);
          if (bytes === undefined) {
            queue.clear();
            subscriber.error(notAChunk(chunk));
            return;
          }
          queue.push(bytes);
          drain();
        },
        error: (error) => {
          queue.clear();
          subscriber.error(error);
        },
        complete: () => {
          // takeWhile also completes when it stops a source for a closed subscriber.
          if (subscriber.closed || !drain()) return;
          let last: T | undefined;
          try {
            last = decoder.finish(queue);
          } catch (error) {
            queue.clear();
            subscriber.error(error);
            return;
          }
          if (last !== undefined) subscriber.next(last);
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        queue.clear();
      };
    });
}

/** A chunk as a Buffer, without copying its bytes (strings encoded), or undefined when it is neither bytes nor a string. */
export function chunkBytes(chunk: unknown, encoding: BufferEncoding): Buffer | undefined {
  if (chunk instanceof Uint8Array) {
    return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  return typeof chunk === 'string' ? Buffer.from(chunk, encoding) : undefined;
}

/** The error notification for a chunk that {@link chunkBytes} refused. */
export function notAChunk(chunk: unknown): TypeError {
  return new TypeError(`expected a Uint8Array or a string chunk, got ${typeof chunk}`);
}
