import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { asyncScheduler, Observable } from 'rxjs';
import type { Address } from '../address';
import type { ProxyInfo, ProxyProtocolVersion } from '../bytes/proxy-header';
import {
  Connection,
  type ConnectionInternals,
  type ConnectionOptions,
  checkConnectionOptions,
} from '../connection';
import { listenSockets } from '../node/listen-sockets';
import { Socket } from '../node/socket';
import { socketTransport } from '../node/socket-transport';
import { checkBoolean, checkNumber, describe } from '../validate';
import { WhereToListen } from '../where-to-listen';
import {
  checkProxyProtocolOptions,
  DEFAULT_PROXY_HEADER_TIMEOUT,
  ignoreWhileWaiting,
  proxyHeaderReads,
} from './proxy-accept';

/** Options of {@link listen}. */
export interface ListenOptions<L> extends ConnectionOptions {
  /**
   * The listen backlog: connections the kernel completes before they are accepted (Linux caps it at
   * `net.core.somaxconn`). Default `511`, Node's.
   */
  backlog?: number;
  /**
   * Listen with TLS (Node's `tls.TlsOptions`: `key`, `cert`, …); with `proxyProtocol`, the
   * handshake follows the PROXY header. Default: plain TCP.
   */
  tls?: tls.TlsOptions;
  /**
   * Every connection starts with a PROXY protocol header (HAProxy's, text `'v1'`, binary `'v2'`,
   * or `'any'` of them), as a load balancer in front sends it: it is read before the connection
   * is emitted, whose `proxy` then says who the original client is. A connection whose header is
   * missing, malformed, oversized or late, or that closes before it is complete, is closed and
   * never emitted. Default `false`: no header.
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
  /** Called once the socket listens, with what it listens on (the port chosen, the path). */
  onListening?: (listeningOn: L) => void;
}

/**
 * The default listen backlog of `listen` and `Server.create`: Node's. A smaller one drops the SYNs of
 * a burst of connects, which clients then resend only after a second.
 */
export const DEFAULT_BACKLOG = 511;

/**
 * Listens and emits every accepted connection, with its reader and writer.
 *
 * Cold: subscribing binds and listens (`onListening` says when, and on what); unsubscribing closes
 * the listening socket (and removes a Unix socket's file, if it is still its own). The connections
 * emitted are the subscriber's to close. Where `Server.create` runs a handler per connection, with
 * its slots, idle timeout and close, `listen` leaves all that to RxJS operators, which make any
 * server shape from it.
 *
 * ```ts
 * import { mergeMap } from 'rxjs';
 * import { listen, onPortChosenByOs } from 'rx-tcp';
 *
 * listen(onPortChosenByOs, { onListening: (port) => console.log('echo on', port) })
 *   .pipe(mergeMap(({ reader, writer }) => reader.transfer(writer).pipe(mergeMap(() => writer.close())), 100))
 *   .subscribe();
 * ```
 *
 * Behind a load balancer that sends a PROXY header, `proxyProtocol` reads it first: only
 * connections whose header was read are emitted, and their `proxy` says who the client is.
 *
 * ```ts
 * import { mergeMap } from 'rxjs';
 * import { addressToString, listen, onPort } from 'rx-tcp';
 *
 * listen(onPort(7000), { proxyProtocol: 'any' })
 *   .pipe(mergeMap((connection) => {
 *     const client = connection.proxy?.source ?? connection.remoteAddress;
 *     connection.writer.writeLine(`hello ${addressToString(client)}`);
 *     return connection.close();
 *   }))
 *   .subscribe();
 * ```
 * @param where From `onPort`, `onPortChosenByOs`, `onFile` or `WhereToListen.create`.
 * @param options `backlog` (default 511), `tls`, `proxyProtocol` (default `false`),
 *   `proxyHeaderTimeout` (default `10_000` ms), `reusePort` (default `false`), `onListening`,
 *   `readerBufferSize` (default 128 KiB), `bufferAgeLimit` (default `120_000` ms), `scheduler`
 *   (default `asyncScheduler`).
 */
export function listen<A extends Address, L>(
  where: WhereToListen<A, L>,
  options: ListenOptions<L> = {},
): Observable<Connection<A>> {
  checkWhereToListen('listen', where);
  checkConnectionOptions('listen', options);
  checkProxyProtocolOptions('listen', options);
  const {
    backlog = DEFAULT_BACKLOG,
    tls,
    proxyProtocol = false,
    proxyHeaderTimeout = DEFAULT_PROXY_HEADER_TIMEOUT,
    reusePort = false,
    onListening,
    scheduler = asyncScheduler,
  } = options;
  checkNumber('listen', 'backlog', backlog, 0, true);
  checkReusePort('listen', reusePort, where.address);
  return new Observable<Connection<A>>((subscriber) => {
    let bound: A;
    // listen has no events: a connection whose header is refused is just closed.
    const headers = proxyHeaderReads({ proxyProtocol, proxyHeaderTimeout, scheduler }, () => {});
    const stop = listenSockets<A, ProxyInfo | null>(where, {
      backlog,
      tls,
      reusePort,
      preface: headers === undefined ? undefined : (socket, proceed) => headers.read(socket, proceed),
      onListening: (_server, address) => {
        bound = address;
        onListening?.(where.listeningOn(address));
      },
      onSocket: (socket, proxy = null) =>
        subscriber.next(acceptedConnection(socket, bound, options, undefined, proxy)),
      onError: (error) => subscriber.error(error),
    });
    return () => {
      stop();
      headers?.cancelAll();
    };
  });
}

/** @internal Throws unless `where` is a `WhereToListen`. */
export function checkWhereToListen(caller: string, where: unknown): void {
  if (!(where instanceof WhereToListen)) {
    throw new TypeError(`${caller}: expected a WhereToListen from onPort, onFile, …, got ${describe(where)}`);
  }
}

/**
 * @internal Throws unless `reusePort` is a boolean, and, when `true`, the listening is on a TCP
 * port and this Node on this system supports it.
 */
export function checkReusePort(caller: string, reusePort: unknown, address: Address): void {
  if (!checkBoolean(caller, 'reusePort', reusePort)) return;
  if (address.family !== 'inet') {
    throw new TypeError(
      `${caller}: reusePort is for a TCP port, not the Unix socket ${describe(address.path)}`,
    );
  }
  if (!reusePortSupported(process.versions.node, process.platform)) {
    throw new TypeError(
      `${caller}: reusePort needs Linux and Node >= 22.12 (>= 23.1 after the 22 line), got Node ${process.versions.node} on ${process.platform}`,
    );
  }
}

/** @internal Whether Node `version` on `platform` binds with `SO_REUSEPORT` when asked. */
export function reusePortSupported(version: string, platform: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  if (platform !== 'linux') return false;
  if (major === 22) return minor >= 12;
  if (major === 23) return minor >= 1;
  return major > 23;
}

/**
 * @internal A `Connection` over a socket accepted on `bound`, whose PROXY header, if it had one,
 * said `proxy`.
 */
export function acceptedConnection<A extends Address>(
  socket: net.Socket,
  bound: A,
  options: ConnectionOptions,
  internals?: ConnectionInternals,
  proxy: ProxyInfo | null = null,
): Connection<A> {
  // A Unix socket's own path is the one bound (the OS reports none); its peer is unnamed, as
  // Socket says by itself.
  const known = bound.family === 'unix' ? { local: bound } : undefined;
  const connection = new Connection(
    new Socket<A>(socket, bound.family, known),
    socketTransport(socket),
    options,
    internals,
    proxy,
  );
  // Its Reader is wired now and sees its failures: see ignoreWhileWaiting.
  socket.off('error', ignoreWhileWaiting);
  return connection;
}
