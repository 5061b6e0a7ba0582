import { from, type ObservableInput } from 'rxjs';
import type { Address } from '../address';
import { BareSubscriber } from '../bare-subscriber';
import type { Connection, ConnectionMonitor } from '../connection';
import { isConnectionFailure } from '../connection-failure';
import type { WriterCloseOptions } from '../stream/force-close';
import { CLOSE_AFTER_USE } from '../stream/force-close';
import type { Reader } from '../stream/reader';
import type { Writer } from '../stream/writer';

/**
 * The handler of `Server.create`: serves one connection; its end closes the connection.
 *
 * It is called as `handler(address, reader, writer, connection)`. `address` is the client's: the
 * peer of the socket, or, behind a load balancer that sends a PROXY header (`proxyProtocol`), the
 * original client the header names (`connection.proxy.source`, an `InetAddress`, or a
 * `UnixAddress` for a v2 `AF_UNIX` header), and the balancer's own for a header that names none
 * (a health check). `connection` is the whole `Connection`: the balancer's socket and addresses,
 * and `proxy`. A handler that needs only the first three arguments takes only those.
 *
 * ```ts
 * import { addressToString, type Handler, type InetAddress } from 'rx-tcp';
 *
 * const hello: Handler<InetAddress> = (address, _reader, writer, connection) => {
 *   const via = connection.proxy === null ? '' : ` via ${addressToString(connection.remoteAddress)}`;
 *   writer.writeLine(`hello ${addressToString(address)}${via}`);
 *   return writer.flushed();
 * };
 * ```
 */
export type Handler<A extends Address> = (
  address: A,
  reader: Reader,
  writer: Writer,
  connection: Connection<A>,
) => ObservableInput<unknown>;

/**
 * A `Server.create` handler running on one connection, as the server runs it (and
 * `rx-tcp/testing`'s `serveConnection` too): when the handler completes, errors or throws, the
 * connection is closed (writer flushed, forced after 30 s, then reader); a peer that resets has
 * it destroyed at once; and it is over once the handler is done and the socket closed, in either
 * order. The object is also the handler's subscriber and the connection's monitor: no closures per
 * connection. Subclasses say what a handler error and the end mean.
 *
 * What the peer causes is never a handler error, even when it reaches the handler's Observable
 * (a transfer erroring on a reset, say): {@link isConnectionFailure} decides, and such a failure
 * only closes this connection and is told to {@link ended} with it.
 *
 * It subscribes to the handler as a {@link BareSubscriber}, and so keeps a subscriber's contract.
 */
export abstract class HandlerRun<A extends Address>
  extends BareSubscriber<unknown>
  implements ConnectionMonitor
{
  protected connection!: Connection<A>;
  protected address!: A;
  /**
   * How the connection failed, if it did: the writer's failure (buffer age, bytes lost to a
   * reset) or a connection failure the handler passed on. It closes this connection only.
   */
  protected connectionFailure: unknown;
  /** The handler is done (or stopped): the connection is being closed. */
  private closing = false;
  private transportClosed = false;

  /** The handler failed (errored or threw); the connection is closed next. */
  protected abstract failed(error: unknown): void;

  /** The handler is done and the connection closed. */
  protected abstract ended(): void;

  /** Calls `handler` on `connection`, with the client's address (the PROXY header's, if any). */
  protected run(connection: Connection<A>, handler: Handler<A>): void {
    this.connection = connection;
    // An AF_UNIX client behind a TCP server is the one address not of the server's family.
    const address = (connection.proxy?.source as A | undefined) ?? connection.remoteAddress;
    this.address = address;
    try {
      from(handler(address, connection.reader, connection.writer, connection)).subscribe(this);
    } catch (error) {
      this.error(error);
    }
  }

  /** Subscriber of the handler: values are ignored. */
  next(): void {}

  /** Subscriber of the handler: it failed, through a bug of its own or through the connection's. */
  error(error: unknown): void {
    if (this.closed) return;
    this.stopHandler();
    if (isConnectionFailure(error, this.connection)) this.connectionFailure ??= error;
    else this.failed(error);
    this.close();
  }

  /** Subscriber of the handler: it is done. */
  complete(): void {
    if (this.closed) return;
    this.stopHandler();
    this.close();
  }

  /** Stops the handler and closes the connection, its writer flushed for at most `options.forceCloseAfter`. */
  stop(options: WriterCloseOptions = CLOSE_AFTER_USE): void {
    this.stopHandler();
    this.close(options);
  }

  /** Unsubscribes from the handler; a throw of its teardown is a handler error, never a leak. */
  private stopHandler(): void {
    try {
      this.unsubscribe();
    } catch (error) {
      this.failed(error);
    }
  }

  /** Closes the connection; closing already, a shorter `forceCloseAfter` still applies. */
  protected close(options: WriterCloseOptions = CLOSE_AFTER_USE): void {
    if (this.closing) {
      this.connection.release(options);
      return;
    }
    this.closing = true;
    // Hot: closing starts whether or not anybody subscribes; connectionClosed() tells the end.
    // On the handler's behalf: whatever it still writes is dropped, not thrown.
    this.connection.release(options);
    if (this.transportClosed) this.ended();
  }

  // ConnectionMonitor
  peerLeft(): void {
    // A reset peer is gone: release the descriptor now, even while the handler still runs.
    this.connection.destroy();
  }

  writerFailed(failure: unknown): void {
    this.connectionFailure ??= failure;
  }

  connectionClosed(): void {
    this.transportClosed = true;
    // A connection closed under its handler (a reset) is over only once the handler is done.
    if (this.closing) this.ended();
  }
}
