import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Observable } from 'rxjs';
import { type Address, unmapIPv4 } from '../address';
import type { WhereToListen } from '../where-to-listen';

/** How `listenSockets` listens. */
export interface ListenSocketsOptions<A extends Address> {
  /** The listen backlog. */
  backlog: number;
  /** Listen with TLS: accepted sockets have completed their handshake. */
  tls?: tls.TlsOptions;
  /** Accept without reading, so that a connection waiting for a slot stays unread. Ignored with TLS. */
  pauseOnConnect: boolean;
  /**
   * Called when accepting one connection failed (`EMFILE`, …). Such errors are not fatal: libuv
   * backs off by itself, and the server goes on accepting once descriptors are free.
   */
  onAcceptError?: (error: Error) => void;
  /** Called once listening, with the Node server and the address actually bound. */
  onListening: (server: net.Server, bound: A) => void;
}

/**
 * The accepted sockets of a listening socket, as an Observable: subscribing binds and listens,
 * unsubscribing closes the listening socket (and, for a Unix socket, removes its file). The one
 * place where `net.Server` events are wired; `listen` and `Server.create` build on it.
 */
export function listenSockets<A extends Address>(
  where: WhereToListen<A, unknown>,
  options: ListenSocketsOptions<A>,
): Observable<net.Socket> {
  return new Observable<net.Socket>((subscriber) => {
    let server: net.Server | undefined;
    let closed = false;
    const connectionEvent = options.tls === undefined ? 'connection' : 'secureConnection';
    const onConnection = (socket: net.Socket) => subscriber.next(socket);
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.syscall === 'accept') options.onAcceptError?.(error);
      else subscriber.error(error);
    };
    // A failed TLS handshake concerns that client only: Node has destroyed its socket already.
    const onTlsClientError = () => {};

    const start = () => {
      if (closed) return;
      const common = { allowHalfOpen: true, noDelay: true };
      server =
        options.tls === undefined
          ? net.createServer({ ...common, pauseOnConnect: options.pauseOnConnect })
          : tls.createServer({ ...common, ...options.tls });
      server.on(connectionEvent, onConnection);
      server.on('error', onError);
      server.on('tlsClientError', onTlsClientError);
      const listening = server;
      const { address } = where;
      const listenOptions: net.ListenOptions =
        address.family === 'unix'
          ? { path: address.path, backlog: options.backlog }
          : { host: address.host, port: address.port, backlog: options.backlog, ipv6Only: false };
      listening.listen(listenOptions, () => {
        if (closed) return;
        const bound = listening.address();
        const actual =
          address.family === 'unix' || bound === null || typeof bound === 'string'
            ? address
            : { family: 'inet', host: unmapIPv4(bound.address), port: bound.port };
        options.onListening(listening, actual as A);
      });
    };

    if (where.address.family === 'unix') {
      takeOverStaleSocket(where.address.path).then(start, onError);
    } else {
      start();
    }

    return () => {
      closed = true;
      if (server === undefined) return;
      server.off(connectionEvent, onConnection);
      server.off('tlsClientError', onTlsClientError);
      // Errors after this point concern nobody; keep a listener so that none is uncaught.
      server.off('error', onError);
      server.on('error', () => {});
      if (server.listening) server.close();
    };
  });
}

/**
 * Removes a Unix socket file left behind by a process that died, after checking with a connect
 * that nothing listens on it. A live socket, or a path that is not a socket at all, is left alone
 * and reported as `EADDRINUSE`.
 */
async function takeOverStaleSocket(path: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stat.isSocket()) throw addressInUse(path, 'exists and is not a socket');
  const live = await new Promise<boolean>((resolve, reject) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      probe.destroy();
      if (error.code === 'ECONNREFUSED') resolve(false);
      else if (error.code === 'ENOENT') resolve(false);
      else reject(error);
    });
  });
  if (live) throw addressInUse(path, 'is in use by a listening process');
  await fs.promises.rm(path, { force: true });
}

function addressInUse(path: string, why: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`listen EADDRINUSE: ${path} ${why}`), {
    code: 'EADDRINUSE',
    errno: -98,
    syscall: 'listen',
    address: path,
  });
}
