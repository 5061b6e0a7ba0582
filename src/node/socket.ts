import { Socket as NodeSocket } from 'node:net';
import { type Address, inetAddress } from '../address';
import { checkNumber } from '../validate';

/**
 * A connected socket: its addresses, its options, and the Node socket beneath it for whatever
 * rx-tcp does not cover. Addresses are looked up when first asked for (each is a system call) and
 * then kept. IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are reported as IPv4.
 *
 * ```ts
 * import { connectSock, toHostAndPort } from 'rx-tcp';
 *
 * connectSock(toHostAndPort('127.0.0.1', 8080)).subscribe((socket) => {
 *   socket.setKeepAlive(true, 10_000);
 *   console.log(socket.localAddress, '->', socket.remoteAddress);
 *   socket.nodeSocket.end();
 * });
 * ```
 */
export class Socket<A extends Address = Address> {
  private local: A | undefined;
  private remote: A | undefined;

  /** @internal */
  constructor(
    /** The Node socket. Reading from or writing to it directly bypasses the Reader and Writer. */
    readonly nodeSocket: NodeSocket,
    /** The address family of both ends. */
    readonly family: A['family'],
    /** @internal Known addresses (a Unix socket's peer has none the OS reports). */
    known?: { local?: A; remote?: A },
  ) {
    this.local = known?.local;
    this.remote = known?.remote;
  }

  /** Our end's address. */
  get localAddress(): A {
    this.local ??= this.lookUp(this.nodeSocket.localAddress, this.nodeSocket.localPort);
    return this.local;
  }

  /** The peer's address. */
  get remoteAddress(): A {
    this.remote ??= this.lookUp(this.nodeSocket.remoteAddress, this.nodeSocket.remotePort);
    return this.remote;
  }

  /**
   * Turns Nagle's algorithm off (`true`, the default on every rx-tcp socket, as in Async) or on.
   * The Writer already gathers small writes into one system call per cycle of the event loop, so leaving no-delay on
   * costs nothing and saves a round trip of latency.
   * @param noDelay Default `true`.
   */
  setNoDelay(noDelay = true): this {
    this.nodeSocket.setNoDelay(noDelay);
    return this;
  }

  /**
   * Turns TCP keep-alive probes on or off.
   * @param enable Default `true`.
   * @param initialDelay Milliseconds of idleness before the first probe; `0` keeps the OS default. Default `0`.
   */
  setKeepAlive(enable = true, initialDelay = 0): this {
    checkNumber('setKeepAlive', 'initialDelay', initialDelay, 0);
    this.nodeSocket.setKeepAlive(enable, initialDelay);
    return this;
  }

  private lookUp(host: string | undefined, port: number | undefined): A {
    if (this.family === 'unix') return { family: 'unix', path: '' } as A;
    return inetAddress(host ?? '', port ?? 0) as A;
  }
}

/**
 * @internal A `Socket` at `local` talking to `remote` over a Node socket that is never connected
 * (no descriptor, no port), for a connection over another transport: code written against a
 * socket's type runs unchanged, and setting its options affects nothing.
 */
export function unconnectedSocket<A extends Address>(local: A, remote: A): Socket<A> {
  return new Socket<A>(new NodeSocket(), local.family, { local, remote });
}
