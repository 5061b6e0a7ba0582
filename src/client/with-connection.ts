import { from, Observable, type ObservableInput, type Subscription } from 'rxjs';
import type { Address } from '../address';
import type { Connection } from '../connection';
import { CLOSE_AFTER_USE } from '../stream/force-close';
import type { WhereToConnect } from '../where-to-connect';
import { type ConnectOptions, connect } from './connect';

/**
 * Connects, runs `f` on the connection, and closes it when `f` is done.
 *
 * The result emits what `f`'s `ObservableInput` emits. When that completes, errors, or the result
 * is unsubscribed, the writer is closed first (flushed, forced after 30 s), then the reader; the
 * result completes only after the socket is closed. An error of `f` — or, failing that, of the
 * writer — is the result's error, delivered after the close. Cold: one attempt per subscription.
 *
 * ```ts
 * import { firstValueFrom } from 'rxjs';
 * import { withConnection, toHostAndPort } from 'rx-tcp';
 *
 * const greeting = await firstValueFrom(
 *   withConnection(toHostAndPort('127.0.0.1', 8080), ({ reader, writer }) => {
 *     writer.writeLine('HELLO');
 *     return reader.readLine();
 *   }),
 * );
 * ```
 * @param where Where to connect.
 * @param f Given the connection; returns what to emit (an Observable, a Promise, an array, …).
 * @param options As {@link connect}.
 */
export function withConnection<A extends Address, T>(
  where: WhereToConnect<A>,
  f: (connection: Connection<A>) => ObservableInput<T>,
  options: ConnectOptions = {},
): Observable<T> {
  if (typeof f !== 'function') throw new TypeError(`withConnection: f must be a function, got ${typeof f}`);
  const connect$ = connect(where, options);
  return new Observable<T>((subscriber) => {
    let connection: Connection<A> | undefined;
    let inner: Subscription | undefined;
    let closing = false;

    const closeThen = (error?: { error: unknown }) => {
      if (closing) return;
      closing = true;
      connection!.release(CLOSE_AFTER_USE).subscribe({
        complete: () => (error === undefined ? subscriber.complete() : subscriber.error(error.error)),
        error: (writerError) => subscriber.error(error === undefined ? writerError : error.error),
      });
    };

    const attempt = connect$.subscribe({
      next: (opened) => {
        connection = opened;
        let input: Observable<T>;
        try {
          // `from` throws too, at once, when f returned no ObservableInput.
          input = from(f(opened));
        } catch (error) {
          closeThen({ error });
          return;
        }
        inner = input.subscribe({
          next: (value) => subscriber.next(value),
          error: (error) => closeThen({ error }),
          complete: () => closeThen(),
        });
      },
      error: (error) => subscriber.error(error),
    });

    return () => {
      attempt.unsubscribe();
      inner?.unsubscribe();
      // Unsubscribed while f ran: nobody hears the outcome, but the connection is still closed.
      if (connection !== undefined && !closing) {
        closing = true;
        connection.release(CLOSE_AFTER_USE).subscribe({ error: () => {} });
      }
    };
  });
}
