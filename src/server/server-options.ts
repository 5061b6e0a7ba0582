import type * as tls from 'node:tls';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { Address } from '../address';
import type { ProxyProtocolVersion } from '../bytes/proxy-header';
import { type ConnectionOptions, checkConnectionOptions } from '../connection';
import { checkNumber, checkTimerDelay, describe } from '../validate';
import type { WhereToListen } from '../where-to-listen';
import { checkReusePort, checkWhereToListen, DEFAULT_BACKLOG } from './listen';
import { checkProxyProtocolOptions, DEFAULT_PROXY_HEADER_TIMEOUT } from './proxy-accept';

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
   * The most accepted connections waiting for a slot, or, with `proxyProtocol`, for their PROXY
   * header to be read: past it a new connection is closed at once (event `rejected`), so memory
   * and descriptors stay bounded. With `proxyProtocol` it must be at least 1. Default `64`.
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
  /**
   * Serve TLS (Node's `tls.TlsOptions`: `key`, `cert`, …); with `proxyProtocol`, the handshake
   * follows the PROXY header. Default: plain TCP.
   */
  tls?: tls.TlsOptions;
  /**
   * Every connection starts with a PROXY protocol header (HAProxy's, text `'v1'`, binary `'v2'`,
   * or `'any'` of them), as a load balancer in front sends it. It is read before the handler runs,
   * while the connection counts against `maxPendingConnections`, not `numConnections`; `accepted`
   * is emitted once it is read, with the original client's address, which is also the handler's
   * `address` (`connection.proxy` holds the whole header). A connection whose header is missing,
   * malformed, oversized or late, or that closes before it is complete, is closed with an event
   * `rejected` carrying a `ProxyProtocolError`, and never reaches the handler. Default `false`: no
   * header, the socket's peer is the client.
   */
  proxyProtocol?: false | ProxyProtocolVersion;
  /** With `proxyProtocol`: how long, in ms, a connection has to send its whole header. Default `10_000`. */
  proxyHeaderTimeout?: number;
  /**
   * Bind with `SO_REUSEPORT`, so that several processes listen on one port and the kernel spreads
   * connections among them. Linux only, Node >= 22.12 on the 22 line, >= 23.1 after; elsewhere a
   * `TypeError` is thrown at the call. Default `false`.
   */
  reusePort?: boolean;
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
  /**
   * The peer, for events about one connection: with `proxyProtocol`, the original client its
   * header named once it is read, and the load balancer's address (when still known) for a
   * connection `rejected` before.
   */
  address?: A;
  /**
   * The handler's error (`handlerError`), the connection failure that closed the connection
   * (`connectionClosed`: a reset, bytes lost to a peer gone, a buffer-age limit, input the framing
   * refused), or why a connection was refused (`rejected`: the accept or TLS handshake error, a
   * `ProxyProtocolError`; none when too many connections were pending).
   */
  error?: unknown;
  /** Handlers running (slots taken) once the event happened. */
  numConnections: number;
}

/** The default of `ServerOptions.maxConnections`. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** The default of `ServerOptions.maxPendingConnections`. */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 64;

/** @internal The options of a server, checked, with their defaults. */
export interface ServerSettings<A extends Address> {
  readonly maxConnections: number;
  readonly maxPendingConnections: number;
  readonly backlog: number;
  readonly idleTimeout: number | undefined;
  readonly tls: tls.TlsOptions | undefined;
  readonly proxyProtocol: false | ProxyProtocolVersion;
  readonly proxyHeaderTimeout: number;
  readonly reusePort: boolean;
  readonly onHandlerError: HandlerErrorPolicy<A>;
  readonly scheduler: SchedulerLike;
}

/** @internal Throws at the call unless `Server.create`'s arguments are valid; the settings they make. */
export function serverSettings<A extends Address>(
  where: WhereToListen<A, unknown>,
  handler: unknown,
  options: ServerOptions<A>,
): ServerSettings<A> {
  const caller = 'Server.create';
  checkWhereToListen(caller, where);
  if (typeof handler !== 'function') {
    throw new TypeError(`${caller}: handler must be a function, got ${describe(handler)}`);
  }
  checkConnectionOptions(caller, options);
  checkProxyProtocolOptions(caller, options);
  const {
    maxConnections = DEFAULT_MAX_CONNECTIONS,
    maxPendingConnections = DEFAULT_MAX_PENDING_CONNECTIONS,
    backlog = DEFAULT_BACKLOG,
    idleTimeout,
    tls,
    proxyProtocol = false,
    proxyHeaderTimeout = DEFAULT_PROXY_HEADER_TIMEOUT,
    reusePort = false,
    onHandlerError = 'raise',
    scheduler = asyncScheduler,
  } = options;
  checkNumber(caller, 'maxConnections', maxConnections, 1, true);
  // A connection reading its PROXY header is pending: with none allowed, none would be served.
  checkNumber(caller, 'maxPendingConnections', maxPendingConnections, proxyProtocol === false ? 0 : 1, true);
  checkNumber(caller, 'backlog', backlog, 0, true);
  if (idleTimeout !== undefined) checkTimerDelay(caller, 'idleTimeout', idleTimeout, 1);
  checkHandlerErrorPolicy(caller, onHandlerError);
  checkReusePort(caller, reusePort, where.address);
  return {
    maxConnections,
    maxPendingConnections,
    backlog,
    idleTimeout,
    tls,
    proxyProtocol,
    proxyHeaderTimeout,
    reusePort,
    onHandlerError,
    scheduler,
  };
}
