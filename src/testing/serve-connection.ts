import { from, Observable, type Subscription } from 'rxjs';
import type { Address } from '../address';
import type { Connection } from '../connection';
import { describe } from '../internal/validate';
import type { Handler } from '../server';
import { CLOSE_FORCE_AFTER } from '../with-connection';

/**
 * Runs a `Server.create` handler on one connection, closing it as the server would, so that a
 * handler is tested without a listening socket.
 *
 * Subscribing calls `handler(connection.remoteAddress, connection.reader, connection.writer)`.
 * When its `ObservableInput` completes, errors or throws, the writer is closed (flushed, forced
 * after 30 s), then the reader, as `Server.create` does; a peer that resets the connection has it
 * destroyed at once, as the server does. The result emits once and completes when the connection is
 * closed, or errors, after the close, with the handler's error. A writer failure (a buffer-age
 * limit, a peer gone) is not an error of the result, as it is not a handler error for a server.
 * Unsubscribing unsubscribes the handler and closes the connection. Cold: nothing runs before
 * subscribe.
 *
 * The server's own `idleTimeout` and connection limits are not reproduced: they are the server's
 * behaviour, not the handler's. A timeout written in the handler with RxJS runs as it would.
 *
 * ```ts
 * import { lastValueFrom, toArray } from 'rxjs';
 * import { connectionPair, serveConnection } from 'rx-tcp/testing';
 *
 * const [client, server] = connectionPair();
 * serveConnection(server, (_address, reader, writer) => reader.transfer(writer)).subscribe(); // echo
 * client.writer.writeLine('hello');
 * client.writer.close(); // FIN: the echo completes, and the server closes its side
 * console.log(await lastValueFrom(client.reader.lines().pipe(toArray()))); // [ 'hello' ]
 * ```
 * @param connection The connection to serve, e.g. one of a {@link connectionPair}.
 * @param handler The handler, as given to `Server.create`.
 */
export function serveConnection<A extends Address>(
  connection: Connection<A>,
  handler: Handler<A>,
): Observable<void> {
  if (typeof handler !== 'function') {
    throw new TypeError(`serveConnection: handler must be a function, got ${describe(handler)}`);
  }
  return new Observable<void>((subscriber) => {
    let closing = false;
    let running: Subscription | undefined;
    const close = (failure?: { error: unknown }) => {
      if (closing) return;
      closing = true;
      connection.close({ forceCloseAfter: CLOSE_FORCE_AFTER }).subscribe({
        error: () => {}, // a writer failure concerns the connection only: it is closed either way
      });
      connection.closed.subscribe(() => {
        if (failure !== undefined) {
          subscriber.error(failure.error);
        } else {
          subscriber.next();
          subscriber.complete();
        }
      });
    };
    // A reset peer is gone: release the connection now, even while the handler still runs.
    const left = connection.writer.consumerLeft.subscribe(() => connection.destroy());
    try {
      running = from(handler(connection.remoteAddress, connection.reader, connection.writer)).subscribe({
        error: (error) => close({ error }),
        complete: () => close(),
      });
    } catch (error) {
      close({ error });
    }
    return () => {
      running?.unsubscribe();
      left.unsubscribe();
      close();
    };
  });
}
