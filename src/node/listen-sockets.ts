import * as net from 'node:net';
import * as tls from 'node:tls';
import { type Address, inetAddress } from '../address';
import type { WhereToListen } from '../where-to-listen';
import { SocketFile } from './socket-file';

/** How `listenSockets` listens. */
export interface ListenSocketsOptions<A extends Address, P = never> {
  /** The listen backlog. */
  backlog: number;
  /** Listen with TLS: accepted sockets have completed their handshake. */
  tls?: tls.TlsOptions;
  /** Bind with `SO_REUSEPORT` (checked by the caller to be supported). */
  reusePort?: boolean;
  /**
   * What every connection sends before anything else, even before its TLS handshake (a PROXY
   * header): called with each accepted TCP socket, it reads that much, then calls `proceed` with
   * what it read and the bytes after it put back in the socket, or destroys the socket. With TLS,
   * the listening socket is then plain TCP, and the handshake starts once `proceed` is called.
   */
  preface?: (socket: net.Socket, proceed: (socket: net.Socket, read: P) => void) => void;
  /**
   * Called when accepting one connection failed (`EMFILE`, …), or, with TLS, when a client's
   * handshake failed. Neither is fatal: libuv backs off by itself, and the server goes on
   * accepting once descriptors are free; a failed handshake concerns that client only.
   */
  onAcceptError?: (error: Error) => void;
  /** Called once listening, with the Node server and the address actually bound. */
  onListening: (server: net.Server, bound: A) => void;
  /**
   * Called with each accepted socket (with TLS, once its handshake is done), and what `preface`
   * read of it. If it throws, the socket is destroyed and `onError` called with what it threw.
   */
  onSocket: (socket: net.Socket, read: P | undefined) => void;
  /** Called once if listening fails or the listening socket fails; stop listening then. */
  onError: (error: Error) => void;
}

/**
 * Binds and listens, and hands each accepted socket to `options.onSocket`; returns what stops
 * listening: it closes the listening socket (and, for a Unix socket, removes its file if it is
 * still its own), and may be called more than once. The one place where `net.Server` events are
 * wired; `listen` and `Server.create` build on it. Callbacks rather than an Observable: a server
 * accepting thousands of connections a second would otherwise pay a subscriber's layers for each.
 */
export function listenSockets<A extends Address, P = never>(
  where: WhereToListen<A, unknown>,
  options: ListenSocketsOptions<A, P>,
): () => void {
  /** A Unix socket's file, removed (if still ours) when listening stops. */
  let socketFile: SocketFile | undefined;
  let closed = false;
  const { preface } = options;
  /** TLS on sockets accepted in plain TCP, once their preface is read: see `handshakes`. */
  const tlsAfterPreface = options.tls !== undefined && preface !== undefined;
  const onConnection = (socket: net.Socket, read?: P) => {
    // Half-open from here on (see below), as a plain TCP connection is from the start.
    if (options.tls !== undefined) socket.allowHalfOpen = true;
    try {
      options.onSocket(socket, read);
    } catch (error) {
      // Never thrown into Node's event emitter, where it would be uncaught: that socket is closed,
      // and listening fails with the error.
      socket.destroy();
      if (!closed) options.onError(error as Error);
    }
  };
  const onError = (error: NodeJS.ErrnoException) => {
    if (closed) return;
    socketFile?.blame(error);
    if (error.syscall === 'accept') options.onAcceptError?.(error);
    else options.onError(error);
  };
  // A failed TLS handshake concerns that client only. Node leaves the socket open after some
  // of them (ERR_TLS_HANDSHAKE_TIMEOUT), holding its descriptor: close it, always.
  const onTlsClientError = (error: Error, socket: tls.TLSSocket) => {
    socket.destroy();
    if (!closed) options.onAcceptError?.(error);
  };

  // No-delay is Async's default (it can still be changed per socket). Half-open is what the
  // Reader and the Writer rely on; with TLS it is turned on only once the handshake is done:
  // a client leaving during the handshake is otherwise taken for a half-close, and its
  // socket kept open until the handshake timeout.
  const tlsOptions = { ...options.tls, allowHalfOpen: false, noDelay: true };
  const server =
    options.tls === undefined || tlsAfterPreface
      ? net.createServer({ allowHalfOpen: true, noDelay: true })
      : tls.createServer(tlsOptions);
  /**
   * With a preface, the TLS server that never listens: sockets whose preface is read are handed to
   * it as its 'connection' event (Node's way of giving a TLS server a socket accepted elsewhere), so
   * that their handshake, its options, timeout and errors are those of a listening TLS server.
   */
  const handshakes = tlsAfterPreface ? tls.createServer(tlsOptions) : undefined;
  /** What the preface of each socket in a TLS handshake said, by its TCP socket. */
  const prefaces = new WeakMap<net.Socket, P>();
  /** TCP sockets whose preface was read and whose handshake is under way: closed with the server. */
  const handshaking = new Set<net.Socket>();
  const onSecureConnection = (socket: tls.TLSSocket) => {
    // The TLS socket's `_parent` is the TCP socket it was made over: Node keeps no other link.
    const parent = (socket as tls.TLSSocket & { _parent?: net.Socket })._parent;
    if (parent !== undefined) handshaking.delete(parent);
    const read = parent === undefined ? undefined : prefaces.get(parent);
    if (read === undefined) socket.destroy();
    else onConnection(socket, read);
  };
  const proceed = (socket: net.Socket, read: P) => {
    if (closed) socket.destroy();
    else if (handshakes === undefined) onConnection(socket, read);
    else {
      prefaces.set(socket, read);
      handshaking.add(socket);
      socket.once('close', () => handshaking.delete(socket));
      // Not half-open during the handshake, as for a TLS server's own sockets (see above).
      socket.allowHalfOpen = false;
      try {
        handshakes.emit('connection', socket);
      } catch (error) {
        // Never into the socket's 'data' event, where it would be uncaught: that client only.
        socket.destroy();
        options.onAcceptError?.(error as Error);
      }
    }
  };
  const onRawConnection = (socket: net.Socket) => {
    try {
      preface!(socket, proceed);
    } catch (error) {
      socket.destroy();
      if (!closed) options.onError(error as Error);
    }
  };
  const connectionEvent =
    preface !== undefined || options.tls === undefined ? 'connection' : 'secureConnection';
  const connectionListener = preface === undefined ? onConnection : onRawConnection;
  server.on(connectionEvent, connectionListener);
  server.on('error', onError);
  server.on('tlsClientError', onTlsClientError);
  handshakes?.on('secureConnection', onSecureConnection);
  handshakes?.on('tlsClientError', onTlsClientError);
  const { address } = where;
  const onListening = () => {
    if (closed) return;
    const bound = server.address();
    const actual =
      address.family === 'unix' || bound === null || typeof bound === 'string'
        ? address
        : inetAddress(bound.address, bound.port);
    options.onListening(server, actual as A);
  };
  if (address.family === 'inet') {
    const listenOptions = {
      host: address.host,
      port: address.port,
      backlog: options.backlog,
      ipv6Only: false,
    };
    // `reusePort` is not in the types of every Node line this builds with.
    server.listen(
      options.reusePort === true ? { ...listenOptions, reusePort: true } : listenOptions,
      onListening,
    );
  } else if (process.platform === 'win32') {
    // A named pipe: no file to leave behind or take over.
    server.listen({ path: address.path, backlog: options.backlog }, onListening);
  } else {
    // Listens under a fresh name, then takes the path over: see SocketFile.
    const file = new SocketFile(address.path);
    socketFile = file;
    server.listen({ path: file.temporary, backlog: options.backlog }, () => {
      if (closed) return;
      file.claim().then((claimed) => {
        if (claimed) onListening();
      }, onError);
    });
  }

  return () => {
    if (closed) return;
    closed = true;
    server.off(connectionEvent, connectionListener);
    // A handshake under way when the listening socket closes still completes: nobody will
    // serve that connection, so close it rather than leave the client waiting.
    if (options.tls !== undefined) {
      (handshakes ?? server).off('secureConnection', onSecureConnection);
      (handshakes ?? server).on('secureConnection', (socket: net.Socket) => socket.destroy());
    }
    // Their preface was read for a server that will not serve them: a stalled handshake would
    // otherwise hold its descriptor until the TLS handshake timeout.
    for (const socket of handshaking) socket.destroy();
    handshaking.clear();
    // Errors after this point concern nobody; keep a listener so that none is uncaught.
    server.off('error', onError);
    server.on('error', ignore);
    // Before the socket stops listening: see SocketFile.release.
    socketFile?.release();
    if (server.listening) server.close();
    // Still looking the host up, or binding: it would listen after all, for nobody.
    else server.once('listening', () => server.close());
  };
}

function ignore(): void {}
