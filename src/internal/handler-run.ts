import { from, Subscription } from 'rxjs';
import type { Address } from '../address';
import type { Connection, ConnectionMonitor } from '../connection';
import type { Handler } from '../server';
import { CLOSE_AFTER_USE } from '../with-connection';

/**
 * A `Server.create` handler running on one connection, as the server runs it (and
 * `rx-tcp/testing`'s `serveConnection` too): when the handler completes, errors or throws, the
 * connection is closed (writer flushed, forced after 30 s, then reader); a peer that resets has
 * it destroyed at once; and it is over once the handler is done and the socket closed, in either
 * order. The object is also the handler's subscriber and the connection's monitor: no closures per
 * connection. Subclasses say what a handler error and the end mean.
 *
 * Being both an Observer and a `Subscription` makes it a subscriber in RxJS's eyes: `subscribe`
 * uses it as it is, rather than wrapping it in a `SafeSubscriber` (a subscriber, an observer and
 * three bound functions per connection). So it keeps a subscriber's contract itself: nothing is
 * delivered after `error`, `complete` or `unsubscribe`, and either of the first two unsubscribes.
 */
export abstract class HandlerRun<A extends Address> extends Subscription implements ConnectionMonitor {
  protected connection!: Connection<A>;
  protected address!: A;
  /**
   * A writer failure (buffer age, bytes lost to a reset) closes this connection only, and is told
   * to {@link ended} rather than treated as a handler error.
   */
  protected writerFailure: unknown;
  /** The handler is done (or stopped): the connection is being closed. */
  private closing = false;
  private transportClosed = false;

  /** The handler failed (errored or threw); the connection is closed next. */
  protected abstract failed(error: unknown): void;

  /** The handler is done and the connection closed. */
  protected abstract ended(): void;

  /** Calls `handler` on `connection`. */
  protected run(connection: Connection<A>, handler: Handler<A>): void {
    this.connection = connection;
    const address = connection.remoteAddress;
    this.address = address;
    try {
      from(handler(address, connection.reader, connection.writer)).subscribe(this);
    } catch (error) {
      this.error(error);
    }
  }

  /** Subscriber of the handler: values are ignored. */
  next(): void {}

  /** Subscriber of the handler: it failed. */
  error(error: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    this.failed(error);
    this.close();
  }

  /** Subscriber of the handler: it is done. */
  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.close();
  }

  /** Stops the handler and closes the connection. */
  stop(): void {
    this.unsubscribe();
    this.close();
  }

  protected close(): void {
    if (this.closing) return;
    this.closing = true;
    // Hot: closing starts whether or not anybody subscribes; connectionClosed() tells the end.
    this.connection.close(CLOSE_AFTER_USE);
    if (this.transportClosed) this.ended();
  }

  // ConnectionMonitor
  peerLeft(): void {
    // A reset peer is gone: release the descriptor now, even while the handler still runs.
    this.connection.destroy();
  }

  writerFailed(failure: unknown): void {
    this.writerFailure = failure;
  }

  connectionClosed(): void {
    this.transportClosed = true;
    // A connection closed under its handler (a reset) is over only once the handler is done.
    if (this.closing) this.ended();
  }
}
