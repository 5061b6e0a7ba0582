import { isIP } from 'node:net';

/** An IPv4 or IPv6 endpoint. `host` is an address literal (`127.0.0.1`, `::1`), never a name. */
export interface InetAddress {
  /** Always `'inet'`. */
  readonly family: 'inet';
  /** An IPv4 or IPv6 literal; IPv4-mapped IPv6 addresses are reported as IPv4. */
  readonly host: string;
  /** The port, 0..65535. */
  readonly port: number;
}

/** A Unix-domain socket endpoint: a path in the file system. */
export interface UnixAddress {
  /** Always `'unix'`. */
  readonly family: 'unix';
  /** The socket's path; empty for the unnamed end of a connection. */
  readonly path: string;
}

/** Either kind of socket address. */
export type Address = InetAddress | UnixAddress;

/** The longest Unix socket path Linux accepts, in bytes (`sun_path` is 108 bytes with its NUL). */
export const MAX_UNIX_PATH_BYTES = 107;

/**
 * Prints an address the way logs and error messages show it: `127.0.0.1:80`, `[::1]:80`, or the path.
 *
 * ```ts
 * import { addressToString } from 'rx-tcp';
 *
 * addressToString({ family: 'inet', host: '::1', port: 80 }); // '[::1]:80'
 * ```
 */
export function addressToString(address: Address): string {
  if (address.family === 'unix') return address.path;
  return hostAndPortToString(address.host, address.port);
}

/** `host:port`, with an IPv6 literal in brackets. */
export function hostAndPortToString(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** @internal An address as Node reports it, an IPv4-mapped IPv6 host reported as IPv4. */
export function inetAddress(host: string, port: number): InetAddress {
  return { family: 'inet', host: unmapIPv4(host), port };
}

/** Reports an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is. */
export function unmapIPv4(host: string): string {
  return host.startsWith('::ffff:') && isIP(host.slice(7)) === 4 ? host.slice(7) : host;
}
