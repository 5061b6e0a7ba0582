import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { Observable } from 'rxjs';
import type { Address } from '../address';
import {
  Connection,
  type ConnectionInternals,
  type ConnectionOptions,
  checkConnectionOptions,
} from '../connection';
import { listenSockets } from '../node/listen-sockets';
import { Socket } from '../node/socket';
import { socketTransport } from '../node/socket-transport';
import { checkNumber, describe } from '../validate';
import { WhereToListen } from '../where-to-listen';

/** Options of {@link listen}. */
export interface ListenOptions<L> extends ConnectionOptions {
  /**
   * The listen backlog: connections the kernel completes before they are accepted (Linux caps it at
   * `net.core.somaxconn`). Default `511`, Node's.
   */
  backlog?: number;
  /** Listen with TLS (Node's `tls.TlsOptions`: `key`, `cert`, …). Default: plain TCP. */
  tls?: tls.TlsOptions;
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
 * @param where From `onPort`, `onPortChosenByOs`, `onFile` or `WhereToListen.create`.
 * @param options `backlog` (default 511), `tls`, `onListening`, `readerBufferSize` (default 128 KiB),
 *   `bufferAgeLimit` (default `120_000` ms), `scheduler` (default `asyncScheduler`).
 */
export function listen<A extends Address, L>(
  where: WhereToListen<A, L>,
  options: ListenOptions<L> = {},
): Observable<Connection<A>> {
  checkWhereToListen('listen', where);
  checkConnectionOptions('listen', options);
  const { backlog = DEFAULT_BACKLOG, tls, onListening } = options;
  checkNumber('listen', 'backlog', backlog, 0, true);
  return new Observable<Connection<A>>((subscriber) => {
    let bound: A;
    return listenSockets(where, {
      backlog,
      tls,
      onListening: (_server, address) => {
        bound = address;
        onListening?.(where.listeningOn(address));
      },
      onSocket: (socket) => subscriber.next(acceptedConnection(socket, bound, options)),
      onError: (error) => subscriber.error(error),
    });
  });
}

/** @internal Throws unless `where` is a `WhereToListen`. */
export function checkWhereToListen(caller: string, where: unknown): void {
  if (!(where instanceof WhereToListen)) {
    throw new TypeError(`${caller}: expected a WhereToListen from onPort, onFile, …, got ${describe(where)}`);
  }
}

/** @internal A `Connection` over a socket accepted on `bound`. */
export function acceptedConnection<A extends Address>(
  socket: net.Socket,
  bound: A,
  options: ConnectionOptions,
  internals?: ConnectionInternals,
): Connection<A> {
  // A Unix socket's own path is the one bound (the OS reports none); its peer is unnamed, as
  // Socket says by itself.
  const known = bound.family === 'unix' ? { local: bound } : undefined;
  return new Connection(
    new Socket<A>(socket, bound.family, known),
    socketTransport(socket),
    options,
    internals,
  );
}
