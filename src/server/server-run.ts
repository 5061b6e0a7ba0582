import type * as net from 'node:net';
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import type { Address } from '../address';
import type { ProxyInfo } from '../bytes/proxy-header';
import type { ConnectionInternals, ConnectionOptions } from '../connection';
import type { WriterCloseOptions } from '../stream/force-close';
import { CLOSE_AFTER_USE } from '../stream/force-close';
import { type Handler, HandlerRun } from './handler-run';
import { acceptedConnection } from './listen';

/**
 * What a server gives each of its runs: what they all share, and whom they report to. One object
 * per server rather than these fields in every run.
 */
export interface RunOwner<A extends Address> {
  /** The address listened on. */
  readonly bound: A;
  readonly handler: Handler<A>;
  readonly options: ConnectionOptions;
  readonly idleTimeout: number | undefined;
  readonly scheduler: SchedulerLike;
  /** A handler failed through a bug of its own. */
  handlerFailed(address: A, error: unknown): void;
  /** The handler is done and the connection closed: the slot is free. */
  connectionEnded(run: ServerRun<A>, address: A, connectionFailure: unknown): void;
}

/**
 * A handler running on one connection of a server, in one object: the handler's run (observer of
 * the handler, monitor of the connection), the idle timer's state, and the server's slot. A server
 * may hold ten thousand of these for as long as their peers stay, so closures and subscriptions
 * per connection are what this saves.
 */
export class ServerRun<A extends Address> extends HandlerRun<A> {
  /** Its index in the server's array of runs. */
  slot = 0;
  private idle: Subscription | undefined;
  private lastActivity = 0;

  constructor(private readonly owner: RunOwner<A>) {
    super();
  }

  /** Runs the handler on `socket`, whose PROXY header said `proxy` (null without one). */
  start(socket: net.Socket, proxy: ProxyInfo | null): void {
    const { bound, handler, options, idleTimeout, scheduler } = this.owner;
    let internals: ConnectionInternals = { monitor: this };
    if (idleTimeout !== undefined) {
      this.lastActivity = scheduler.now();
      internals = { monitor: this, onActivity: () => (this.lastActivity = scheduler.now()) };
      this.idle = scheduler.schedule(checkIdle, idleTimeout, this);
    }
    this.run(acceptedConnection(socket, bound, options, internals, proxy), handler);
  }

  /** Closes the idle connection, or looks again when it may have become so. */
  checkIdle(action: SchedulerAction<ServerRun<A>>): void {
    const { scheduler, idleTimeout } = this.owner;
    const quiet = scheduler.now() - this.lastActivity;
    if (quiet >= idleTimeout!) {
      this.idle = undefined;
      // Reads in progress see EOF, so a handler reading the connection ends by itself, and what it
      // still writes is dropped. Hot, like the close after the handler: a writer failure is
      // reported with the connectionClosed event.
      this.connection.release(CLOSE_AFTER_USE);
    } else {
      this.idle = action.schedule(this, idleTimeout! - quiet);
    }
  }

  protected failed(error: unknown): void {
    this.owner.handlerFailed(this.address, error);
  }

  protected override close(options?: WriterCloseOptions): void {
    this.idle?.unsubscribe();
    this.idle = undefined;
    super.close(options);
  }

  protected ended(): void {
    this.owner.connectionEnded(this, this.address, this.connectionFailure);
  }
}

function checkIdle<A extends Address>(this: SchedulerAction<ServerRun<A>>, run?: ServerRun<A>): void {
  run!.checkIdle(this);
}
