import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { type Address, inetAddress } from '../address';
import type { WhereToListen } from '../where-to-listen';

/** How `listenSockets` listens. */
export interface ListenSocketsOptions<A extends Address> {
  /** The listen backlog. */
  backlog: number;
  /** Listen with TLS: accepted sockets have completed their handshake. */
  tls?: tls.TlsOptions;
  /**
   * Called when accepting one connection failed (`EMFILE`, …), or, with TLS, when a client's
   * handshake failed. Neither is fatal: libuv backs off by itself, and the server goes on
   * accepting once descriptors are free; a failed handshake concerns that client only.
   */
  onAcceptError?: (error: Error) => void;
  /** Called once listening, with the Node server and the address actually bound. */
  onListening: (server: net.Server, bound: A) => void;
  /**
   * Called with each accepted socket (with TLS, once its handshake is done). If it throws, the
   * socket is destroyed and `onError` called with what it threw.
   */
  onSocket: (socket: net.Socket) => void;
  /** Called once if listening fails or the listening socket fails; stop listening then. */
  onError: (error: Error) => void;
}

/**
 * Binds and listens, and hands each accepted socket to `options.onSocket`; returns what stops
 * listening: it closes the listening socket (and, for a Unix socket, removes its file), and may be
 * called more than once. The one place where `net.Server` events are wired; `listen` and
 * `Server.create` build on it. Callbacks rather than an Observable: a server accepting thousands
 * of connections a second would otherwise pay a subscriber's layers for each.
 */
export function listenSockets<A extends Address>(
  where: WhereToListen<A, unknown>,
  options: ListenSocketsOptions<A>,
): () => void {
  let server: net.Server | undefined;
  let closed = false;
  const connectionEvent = options.tls === undefined ? 'connection' : 'secureConnection';
  const onConnection = (socket: net.Socket) => {
    // Half-open from here on (see below), as a plain TCP connection is from the start.
    if (options.tls !== undefined) socket.allowHalfOpen = true;
    try {
      options.onSocket(socket);
    } catch (error) {
      // Never thrown into Node's event emitter: that socket is closed and listening fails, as
      // an error of the subscriber used to make it.
      socket.destroy();
      if (!closed) options.onError(error as Error);
    }
  };
  const onError = (error: NodeJS.ErrnoException) => {
    if (closed) return;
    if (error.syscall === 'accept') options.onAcceptError?.(error);
    else options.onError(error);
  };
  // A failed TLS handshake concerns that client only. Node leaves the socket open after some
  // of them (ERR_TLS_HANDSHAKE_TIMEOUT), holding its descriptor: close it, always.
  const onTlsClientError = (error: Error, socket: tls.TLSSocket) => {
    socket.destroy();
    if (!closed) options.onAcceptError?.(error);
  };

  const start = () => {
    if (closed) return;
    // No-delay is Async's default (it can still be changed per socket). Half-open is what the
    // Reader and the Writer rely on; with TLS it is turned on only once the handshake is done:
    // a client leaving during the handshake is otherwise taken for a half-close, and its
    // socket kept open until the handshake timeout.
    server =
      options.tls === undefined
        ? net.createServer({ allowHalfOpen: true, noDelay: true })
        : tls.createServer({ ...options.tls, allowHalfOpen: false, noDelay: true });
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
          : inetAddress(bound.address, bound.port);
      options.onListening(listening, actual as A);
    });
  };

  if (where.address.family === 'unix') {
    takeOverStaleSocket(where.address.path).then(start, onError);
  } else {
    start();
  }

  return () => {
    if (closed) return;
    closed = true;
    if (server === undefined) return;
    server.off(connectionEvent, onConnection);
    // A handshake under way when the listening socket closes still completes: nobody will
    // serve that connection, so close it rather than leave the client waiting.
    if (options.tls !== undefined) server.on(connectionEvent, (socket: net.Socket) => socket.destroy());
    // Errors after this point concern nobody; keep a listener so that none is uncaught.
    server.off('error', onError);
    server.on('error', ignore);
    if (server.listening) server.close();
  };
}

function ignore(): void {}

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
