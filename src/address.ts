import { isIP } from 'node:net';

/** An IPv4 or IPv6 endpoint. `host` is an address literal (`127.0.0.1`, `::1`), never a name. */
export interface InetAddress {
  readonly family: 'inet';
  readonly host: string;
  readonly port: number;
}

/** A Unix-domain socket endpoint: a path in the file system. */
export interface UnixAddress {
  readonly family: 'unix';
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

/** Reports an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is. */
export function unmapIPv4(host: string): string {
  return host.startsWith('::ffff:') && isIP(host.slice(7)) === 4 ? host.slice(7) : host;
}
