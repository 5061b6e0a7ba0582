import type { NetConnectOpts } from 'node:net';
import { type Address, hostAndPortToString, type InetAddress, type UnixAddress } from './address';
import { isBranded } from './brand';
import { checkHost, checkIpLiteral, checkPort, checkUnixPath, describe } from './validate';

/** The brand of `WhereToConnect`: `Symbol.for`, so that every copy of rx-tcp shares it. */
const WHERE_TO_CONNECT: unique symbol = Symbol.for('rx-tcp.WhereToConnect');

/** Options of {@link toHostAndPort} and {@link toInetAddress}. */
export interface ViaLocalOptions {
  /** The local address (an IP literal) to bind before connecting. Default: the OS chooses. */
  viaLocalInterface?: string;
  /** The local port to bind before connecting. Default: the OS chooses. */
  viaLocalPort?: number;
}

/**
 * Where `connect`, `connectSock` and `withConnection` connect to; `A` is the kind of address the
 * connection will have. Made by {@link toHostAndPort}, {@link toInetAddress}, {@link toFile} or
 * {@link toUnixAddress}; immutable and reusable for any number of attempts.
 */
export class WhereToConnect<A extends Address> {
  /** @internal Marks instances of every copy of rx-tcp (see `Symbol.hasInstance` below). */
  readonly [WHERE_TO_CONNECT] = true;

  /**
   * `instanceof` holds for instances made by any copy of rx-tcp in the process: an application
   * that loads both the CommonJS and the ESM build has two `WhereToConnect` classes.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, WHERE_TO_CONNECT);
  }

  /** @internal */
  constructor(
    /** The address family of the resulting connection. */
    readonly family: A['family'],
    /** @internal What `net.connect` is given. */
    readonly netOptions: Readonly<NetConnectOpts>,
    private readonly text: string,
    /** @internal The host name for TLS's SNI, when connecting by name. */
    readonly serverName?: string,
  ) {}

  /** `host:port` (IPv6 in brackets) or the path. */
  toString(): string {
    return this.text;
  }

  /** The same text as `toString()`, for logs in JSON. */
  toJSON(): string {
    return this.text;
  }
}

/**
 * Connect to `host` (a name resolved by DNS under the connect timeout, or an IP literal) at `port`.
 *
 * ```ts
 * import { connect, toHostAndPort } from 'rx-tcp';
 *
 * connect(toHostAndPort('localhost', 8080)).subscribe(({ writer }) => writer.close());
 * ```
 * @param host A host name or IPv4/IPv6 literal; not empty.
 * @param port An integer in 1..65535.
 * @param options `viaLocalInterface`, `viaLocalPort` (default: chosen by the OS).
 */
export function toHostAndPort(
  host: string,
  port: number,
  options: ViaLocalOptions = {},
): WhereToConnect<InetAddress> {
  checkHost('toHostAndPort', host);
  checkPort('toHostAndPort', port);
  return inet('toHostAndPort', host, port, options, host);
}

/**
 * Connect to an IPv4 or IPv6 address, with no DNS look-up.
 *
 * ```ts
 * import { toInetAddress } from 'rx-tcp';
 *
 * const where = toInetAddress({ family: 'inet', host: '::1', port: 8080 });
 * ```
 * @param address An `InetAddress` whose host is an IP literal.
 * @param options `viaLocalInterface` (default: chosen by the OS).
 */
export function toInetAddress(
  address: InetAddress,
  options: Pick<ViaLocalOptions, 'viaLocalInterface'> = {},
): WhereToConnect<InetAddress> {
  if (typeof address !== 'object' || address === null || address.family !== 'inet') {
    throw new TypeError(`toInetAddress: expected an InetAddress, got ${describe(address)}`);
  }
  checkIpLiteral('toInetAddress', 'host', address.host);
  checkPort('toInetAddress', address.port);
  return inet('toInetAddress', address.host, address.port, options, undefined);
}

/**
 * Connect to the Unix-domain socket at `path`.
 *
 * ```ts
 * import { withConnection, toFile } from 'rx-tcp';
 *
 * withConnection(toFile('/tmp/app.sock'), ({ writer }) => { writer.writeLine('hello'); return []; }).subscribe();
 * ```
 * @param path A non-empty path of at most 107 bytes.
 */
export function toFile(path: string): WhereToConnect<UnixAddress> {
  checkUnixPath('toFile', path);
  return new WhereToConnect<UnixAddress>('unix', { path, allowHalfOpen: true }, path);
}

/**
 * Connect to a `UnixAddress`.
 *
 * ```ts
 * import { toUnixAddress } from 'rx-tcp';
 *
 * const where = toUnixAddress({ family: 'unix', path: '/tmp/app.sock' });
 * ```
 */
export function toUnixAddress(address: UnixAddress): WhereToConnect<UnixAddress> {
  if (typeof address !== 'object' || address === null || address.family !== 'unix') {
    throw new TypeError(`toUnixAddress: expected a UnixAddress, got ${describe(address)}`);
  }
  checkUnixPath('toUnixAddress', address.path);
  return toFile(address.path);
}

function inet(
  where: string,
  host: string,
  port: number,
  { viaLocalInterface, viaLocalPort }: ViaLocalOptions,
  serverName: string | undefined,
): WhereToConnect<InetAddress> {
  if (viaLocalInterface !== undefined) checkIpLiteral(where, 'viaLocalInterface', viaLocalInterface);
  if (viaLocalPort !== undefined) checkPort(where, viaLocalPort);
  const options: NetConnectOpts = { host, port, allowHalfOpen: true, noDelay: true };
  if (viaLocalInterface !== undefined) options.localAddress = viaLocalInterface;
  if (viaLocalPort !== undefined) options.localPort = viaLocalPort;
  return new WhereToConnect<InetAddress>('inet', options, hostAndPortToString(host, port), serverName);
}
