import { checkOneOf, describe } from '../validate';
import { formatIPv4, formatIPv6, scanIPv4, scanIPv6 } from './ip-literal';
import { type ProxyInfo, V2_SIGNATURE, V2_UNIX_PATH_LENGTH } from './proxy-info';

const CALLER = 'encodeProxyHeader';

/** One end of the header, checked and turned into bytes. */
type Endpoint =
  | { readonly kind: 'ipv4' | 'ipv6'; readonly bytes: Uint8Array; readonly port: number }
  | { readonly kind: 'unix'; readonly path: Buffer };

/**
 * The bytes of a PROXY protocol header (HAProxy's specification) announcing `proxy`, for a load
 * balancer or a test to write before a connection's first byte.
 *
 * Version 1 is the text line `PROXY TCP4|TCP6 <source> <destination> <source port> <destination
 * port>\r\n`, or `PROXY UNKNOWN\r\n` for `null`; it has no Unix addresses and no TLVs. Version 2 is
 * binary: a `PROXY` header of family AF_INET, AF_INET6 or AF_UNIX over a stream, followed by
 * `proxy.tlvs` in the map's order, or a `LOCAL` header (a health check, no addresses) for `null`.
 *
 * Both addresses must be of one kind, inet or unix. Two IPv4 hosts make a TCP4 (AF_INET) header;
 * otherwise the IPv4 one is written as IPv4-mapped IPv6 (`::ffff:a.b.c.d`) in a TCP6 (AF_INET6)
 * header, which a reader reports as the IPv4 address again. IPv6 hosts are written in Node's
 * canonical text. The format allows 65 535 bytes after the v2 preamble; an rx-tcp server refuses
 * more than 4 096.
 *
 * ```ts
 * import { encodeProxyHeader } from 'rx-tcp';
 *
 * const client = { family: 'inet', host: '203.0.113.7', port: 51234 } as const;
 * const server = { family: 'inet', host: '192.0.2.1', port: 443 } as const;
 *
 * const v1 = encodeProxyHeader(1, { source: client, destination: server, tlvs: new Map() });
 * console.log(JSON.stringify(v1.toString('latin1')));
 * // "PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n"
 *
 * const alpn = Buffer.from('h2');
 * const v2 = encodeProxyHeader(2, { source: client, destination: server, tlvs: new Map([[0x01, alpn]]) });
 * console.log(v2.length); // 16-byte preamble + 12 bytes of addresses + 5 bytes of TLV
 * // 33
 * ```
 *
 * @param version `1` (text) or `2` (binary).
 * @param proxy The original client (`source`), the address it connected to (`destination`) and, for
 * version 2, the TLVs by type (0..255, each value at most 65 535 bytes); `null` for a header
 * without addresses (v1 `UNKNOWN`, v2 `LOCAL`).
 * @return The header's bytes.
 * @throws {TypeError} For a version, address, host, port or TLV of the wrong type, a Unix address in
 * version 1, or a mix of inet and unix addresses.
 * @throws {RangeError} For a port outside 0..65535, a Unix path over 108 bytes or holding a NUL,
 * TLVs in version 1, or TLVs too long for the header.
 */
export function encodeProxyHeader(version: 1 | 2, proxy: ProxyInfo | null): Buffer {
  checkOneOf(CALLER, 'version', version, [1, 2]);
  if (proxy === null)
    return version === 1 ? Buffer.from('PROXY UNKNOWN\r\n', 'latin1') : v2Preamble(0x20, 0, 0);
  if (typeof proxy !== 'object') {
    throw new TypeError(`${CALLER}: proxy must be a ProxyInfo object or null, got ${describe(proxy)}`);
  }
  const source = endpoint('proxy.source', proxy.source);
  const destination = endpoint('proxy.destination', proxy.destination);
  if ((source.kind === 'unix') !== (destination.kind === 'unix')) {
    throw new TypeError(
      `${CALLER}: proxy.source and proxy.destination must both be inet or both unix, got ${describe(proxy.source)} and ${describe(proxy.destination)}`,
    );
  }
  const tlvs = checkTlvs(proxy.tlvs);
  if (version === 1) {
    if (source.kind === 'unix' || destination.kind === 'unix') {
      throw new TypeError(`${CALLER}: a v1 header has no Unix addresses, got ${describe(proxy.source)}`);
    }
    if (tlvs.size > 0) throw new RangeError(`${CALLER}: a v1 header carries no TLVs, got ${tlvs.size}`);
    return v1Line(source, destination);
  }
  return v2Header(source, destination, tlvs);
}

function v1Line(source: Endpoint & { kind: 'ipv4' | 'ipv6' }, destination: typeof source): Buffer {
  const four = source.kind === 'ipv4' && destination.kind === 'ipv4';
  const host = (end: typeof source) => (four ? formatIPv4(end.bytes) : formatIPv6(asIPv6(end.bytes)));
  const line = `PROXY ${four ? 'TCP4' : 'TCP6'} ${host(source)} ${host(destination)} ${source.port} ${destination.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

function v2Header(source: Endpoint, destination: Endpoint, tlvs: ReadonlyMap<number, Uint8Array>): Buffer {
  let family: number;
  let addresses: Buffer;
  if (source.kind === 'unix' || destination.kind === 'unix') {
    family = 3;
    addresses = Buffer.alloc(2 * V2_UNIX_PATH_LENGTH);
    if (source.kind === 'unix') source.path.copy(addresses, 0);
    if (destination.kind === 'unix') destination.path.copy(addresses, V2_UNIX_PATH_LENGTH);
  } else if (source.kind === 'ipv4' && destination.kind === 'ipv4') {
    family = 1;
    addresses = Buffer.alloc(12);
    addresses.set(source.bytes, 0);
    addresses.set(destination.bytes, 4);
    addresses.writeUInt16BE(source.port, 8);
    addresses.writeUInt16BE(destination.port, 10);
  } else {
    family = 2;
    addresses = Buffer.alloc(36);
    addresses.set(asIPv6(source.bytes), 0);
    addresses.set(asIPv6(destination.bytes), 16);
    addresses.writeUInt16BE(source.port, 32);
    addresses.writeUInt16BE(destination.port, 34);
  }
  let length = addresses.length;
  for (const value of tlvs.values()) length += 3 + value.length;
  if (length > 0xffff) {
    throw new RangeError(
      `${CALLER}: addresses and TLVs take ${length} bytes, more than the 65535 a v2 header holds`,
    );
  }
  const parts = [v2Preamble(0x21, (family << 4) | 1, length), addresses];
  for (const [type, value] of tlvs) {
    const head = Buffer.alloc(3);
    head[0] = type;
    head.writeUInt16BE(value.length, 1);
    parts.push(head, Buffer.from(value.buffer, value.byteOffset, value.length));
  }
  return Buffer.concat(parts);
}

/** The 16 bytes starting a v2 header: signature, version and command, family, length. */
function v2Preamble(versionAndCommand: number, family: number, length: number): Buffer {
  const preamble = Buffer.alloc(16);
  V2_SIGNATURE.copy(preamble, 0);
  preamble[12] = versionAndCommand;
  preamble[13] = family;
  preamble.writeUInt16BE(length, 14);
  return preamble;
}

/** IPv6 bytes as they are; IPv4 bytes as the IPv4-mapped IPv6 address. */
function asIPv6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const mapped = new Uint8Array(16);
  mapped[10] = 0xff;
  mapped[11] = 0xff;
  mapped.set(bytes, 12);
  return mapped;
}

function endpoint(name: string, address: unknown): Endpoint {
  if (typeof address !== 'object' || address === null) {
    throw new TypeError(
      `${CALLER}: ${name} must be an InetAddress or a UnixAddress, got ${describe(address)}`,
    );
  }
  const { family } = address as { family?: unknown };
  if (family === 'unix') return { kind: 'unix', path: unixPath(name, (address as { path?: unknown }).path) };
  if (family !== 'inet') {
    throw new TypeError(`${CALLER}: ${name}.family must be "inet" or "unix", got ${describe(family)}`);
  }
  const { host, port } = address as { host?: unknown; port?: unknown };
  const v4 = typeof host === 'string' ? scanIPv4(host) : undefined;
  const v6 = typeof host === 'string' && !(v4 instanceof Uint8Array) ? scanIPv6(host) : undefined;
  const bytes = v4 instanceof Uint8Array ? v4 : v6;
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `${CALLER}: ${name}.host must be an IPv4 or IPv6 address literal, got ${describe(host)}`,
    );
  }
  if (typeof port !== 'number') {
    throw new TypeError(`${CALLER}: ${name}.port must be a number, got ${describe(port)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${CALLER}: ${name}.port must be an integer in 0..65535, got ${port}`);
  }
  return { kind: bytes.length === 4 ? 'ipv4' : 'ipv6', bytes, port };
}

/** A path that fits `sun_path` and reads back the same: at most 108 bytes, no NUL (empty allowed: an unnamed socket). */
function unixPath(name: string, path: unknown): Buffer {
  if (typeof path !== 'string') {
    throw new TypeError(`${CALLER}: ${name}.path must be a string, got ${describe(path)}`);
  }
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length > V2_UNIX_PATH_LENGTH || path.includes('\0')) {
    throw new RangeError(
      `${CALLER}: ${name}.path must be at most ${V2_UNIX_PATH_LENGTH} bytes without a NUL, got ${describe(path)}`,
    );
  }
  return bytes;
}

function checkTlvs(tlvs: unknown): ReadonlyMap<number, Uint8Array> {
  if (!(tlvs instanceof Map)) {
    throw new TypeError(`${CALLER}: proxy.tlvs must be a Map of TLV type to bytes, got ${describe(tlvs)}`);
  }
  for (const [type, value] of tlvs) {
    if (typeof type !== 'number') {
      throw new TypeError(`${CALLER}: a TLV type must be a number, got ${describe(type)}`);
    }
    if (!Number.isInteger(type) || type < 0 || type > 255) {
      throw new RangeError(`${CALLER}: a TLV type must be an integer in 0..255, got ${type}`);
    }
    if (!(value instanceof Uint8Array)) {
      throw new TypeError(`${CALLER}: TLV ${type} must be a Buffer or Uint8Array, got ${describe(value)}`);
    }
    if (value.length > 0xffff) {
      throw new RangeError(`${CALLER}: TLV ${type} is ${value.length} bytes, more than 65535`);
    }
  }
  return tlvs;
}
