import { Observable, type Subscriber } from 'rxjs';
import type { Address } from '../address';
import type { Connection } from '../connection';
import { type Handler, HandlerRun } from '../server/handler-run';
import { describe } from '../validate';

/**
 * Runs a `Server.create` handler on one connection, closing it as the server would, so that a
 * handler is tested without a listening socket.
 *
 * Subscribing calls `handler(address, connection.reader, connection.writer, connection)`, as the
 * server does: `address` is `connection.proxy.source` for a connection that carries a PROXY header's
 * addresses, else `connection.remoteAddress`.
 * When its `ObservableInput` completes, errors or throws, the writer is closed (flushed, forced
 * after 30 s), then the reader, as `Server.create` does; a peer that resets the connection has it
 * destroyed at once, as the server does. The result emits once and completes when the connection is
 * closed, or errors, after the close, with the handler's error. A connection failure (a reset, a
 * buffer-age limit, bytes lost to a peer gone: see `isConnectionFailure`), even one the handler
 * passes on, is not an error of the result, as it is not a handler error for a server.
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
    const run = new StandaloneRun<A>(subscriber);
    // The connection exists already, so the run hears of it through subscriptions, not as its
    // monitor; a handler test holds one connection, not ten thousand.
    const left = connection.writer.consumerLeft.subscribe(() => run.peerLeft());
    const closed = connection.closed.subscribe(() => run.connectionClosed());
    run.start(connection, handler);
    return () => {
      run.stop();
      left.unsubscribe();
      closed.unsubscribe();
    };
  });
}

/** A handler run outside any server: its end is the result of `serveConnection`. */
class StandaloneRun<A extends Address> extends HandlerRun<A> {
  private failure: { error: unknown } | undefined;

  constructor(private readonly subscriber: Subscriber<void>) {
    super();
  }

  start(connection: Connection<A>, handler: Handler<A>): void {
    this.run(connection, handler);
  }

  protected failed(error: unknown): void {
    this.failure = { error };
  }

  protected ended(): void {
    if (this.failure !== undefined) {
      this.subscriber.error(this.failure.error);
    } else {
      this.subscriber.next();
      this.subscriber.complete();
    }
  }
}
