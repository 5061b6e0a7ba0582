import type * as tls from 'node:tls';
import type { Address } from '../address';
import type { ConnectionOptions } from '../connection';
import { describe } from '../validate';

/**
 * What happens when a handler fails (errors, or throws) through a bug of its own: `'raise'` stops
 * the server (its `closeFinished` errors), `'ignore'` carries on, `{ call }` reports and carries on
 * unless `call` throws, which stops the server as `'raise'` does.
 *
 * What the peer causes is never a handler error, whatever the policy, even when it reaches the
 * server through the handler's Observable (a `transfer` erroring on a reset, a `lines()` refusing
 * an overlong line, a writer's `BufferAgeLimitError`): see {@link isConnectionFailure}. It closes
 * that connection only and is reported as a `connectionClosed` event with the error. No peer can
 * stop a server.
 */
export type HandlerErrorPolicy<A extends Address> =
  | 'raise'
  | 'ignore'
  | {
      /** Told of each handler error; throwing from it stops the server with what it threw. */
      call: (address: A, error: unknown) => void;
    };

/** @internal Throws unless `policy` is a {@link HandlerErrorPolicy}. */
export function checkHandlerErrorPolicy(caller: string, policy: unknown): void {
  const call = typeof policy === 'object' && policy !== null && (policy as { call?: unknown }).call;
  if (policy !== 'raise' && policy !== 'ignore' && typeof call !== 'function') {
    throw new TypeError(
      `${caller}: onHandlerError must be 'raise', 'ignore' or { call }, got ${describe(policy)}`,
    );
  }
}

/** Options of {@link Server.create}. */
export interface ServerOptions<A extends Address> extends ConnectionOptions {
  /**
   * The most handlers running at once. Connections beyond it are accepted but wait unread and
   * unanswered until a slot frees. Default `10_000`.
   */
  maxConnections?: number;
  /**
   * The most accepted connections waiting for a slot: past it a new connection is closed at once
   * (event `rejected`), so memory and descriptors stay bounded. Default `64`.
   */
  maxPendingConnections?: number;
  /**
   * The listen backlog: connections the kernel completes before they are accepted, kept apart from
   * `maxPendingConnections` so that a burst of connects is not dropped while slots are free.
   * Default `511`, Node's.
   */
  backlog?: number;
  /** Closes a connection that neither received nor wrote anything for this many ms. Default: off. */
  idleTimeout?: number;
  /** Serve TLS (Node's `tls.TlsOptions`: `key`, `cert`, …). Default: plain TCP. */
  tls?: tls.TlsOptions;
  /** What a handler's own failure does (a connection failure never counts). Default `'raise'`. */
  onHandlerError?: HandlerErrorPolicy<A>;
}

/** Options of {@link Server.close}. */
export interface ServerCloseOptions {
  /** Also close every connection now (their handlers are unsubscribed). Default `false`. */
  closeExistingConnections?: boolean;
  /**
   * Wait this many ms for running handlers to finish, then close the connections of those still
   * running. Default: connections are left to their handlers.
   */
  drainTimeout?: number;
  /**
   * When this close closes connections (`closeExistingConnections`, or at the end of
   * `drainTimeout`), how long each one's writer may take to flush to a peer that stopped reading
   * before the connection is reset and its unsent bytes dropped: milliseconds, or `'never'`.
   * Default `30_000`, as in Async.
   */
  forceCloseAfter?: number | 'never';
}

/** Something that happened to a server, for logs and metrics. */
export interface ServerEvent<A extends Address> {
  /** What happened. */
  type: 'accepted' | 'limitReached' | 'rejected' | 'handlerError' | 'connectionClosed' | 'closed';
  /** The peer, for events about one connection. */
  address?: A;
  /**
   * The handler's error (`handlerError`), the connection failure that closed the connection
   * (`connectionClosed`: a reset, bytes lost to a peer gone, a buffer-age limit, input the framing
   * refused), or the accept error (`rejected`).
   */
  error?: unknown;
  /** Handlers running (slots taken) once the event happened. */
  numConnections: number;
}

/** The default of `ServerOptions.maxConnections`. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** The default of `ServerOptions.maxPendingConnections`. */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 64;
