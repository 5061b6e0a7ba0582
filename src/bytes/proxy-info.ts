import type { InetAddress, UnixAddress } from '../address';

// The PROXY protocol's types and wire constants, apart so that the reader (proxy-header.ts, which
// re-exports all of this) and the encoder share them without an import cycle.

/**
 * Which PROXY protocol header a server accepts: the text one (`'v1'`), the binary one (`'v2'`), or
 * either, told apart by the first byte (`'any'`).
 */
export type ProxyProtocolVersion = 'v1' | 'v2' | 'any';

/**
 * What a PROXY header said: the original client (`source`) and the address it connected to
 * (`destination`), as the load balancer saw them.
 *
 * Hosts are reported as Node reports a socket's address: IPv6 in Node's canonical text (`'::1'`,
 * `'2001:db8::1'`), and an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is,
 * as everywhere in rx-tcp.
 */
export interface ProxyInfo {
  /** The original client: an `InetAddress`, or a `UnixAddress` for a v2 `AF_UNIX` header. */
  readonly source: InetAddress | UnixAddress;
  /** The address the client connected to, of the same family as `source`. */
  readonly destination: InetAddress | UnixAddress;
  /**
   * The v2 header's TLVs (type-length-value fields: ALPN, authority, unique id, …) by type, as raw
   * bytes, in the order of their first appearance; the last of a repeated type wins. Empty for v1.
   */
  readonly tlvs: ReadonlyMap<number, Buffer>;
}

/**
 * A PROXY header read: its version, and what it said, or `null` when it gave no addresses (a v2
 * `LOCAL` header, a v2 header of family `AF_UNSPEC`, a v1 `UNKNOWN` line: a load balancer's own
 * health check), where the connection's own addresses stand.
 */
export interface ProxyHeader {
  /** `1` for the text header, `2` for the binary one. */
  readonly version: 1 | 2;
  /** The addresses and TLVs the header carried; `null` when it carried none. */
  readonly proxy: ProxyInfo | null;
}

/** The longest v1 header, its CRLF included. */
export const V1_MAX_LENGTH = 107;
/** The longest v2 header rx-tcp accepts after its 16-byte preamble. */
export const V2_MAX_LENGTH = 4096;
/** The first 12 bytes of every v2 header. */
export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
/** Bytes of the v2 address block by family: AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX. */
export const V2_ADDRESS_LENGTH = [0, 12, 36, 216] as const;
/** Bytes of each v2 AF_UNIX path field (`sun_path`). */
export const V2_UNIX_PATH_LENGTH = 108;
