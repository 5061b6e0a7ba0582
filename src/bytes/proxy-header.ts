import { ProxyProtocolError } from '../errors';
import type { ByteQueue } from './byte-queue';
import { formatIPv4, ipv6Host, scanIPv4, scanIPv6 } from './ip-literal';
import {
  type ProxyHeader,
  type ProxyInfo,
  type ProxyProtocolVersion,
  V1_MAX_LENGTH,
  V2_ADDRESS_LENGTH,
  V2_MAX_LENGTH,
  V2_SIGNATURE,
  V2_UNIX_PATH_LENGTH,
} from './proxy-info';

// The PROXY protocol header (HAProxy's proxy-protocol.txt) that a load balancer sends before the
// client's bytes. The reader is stateless: each call looks again at the bytes held, never more than
// the header's bound, so a server can call it after every chunk until it answers.

export { encodeProxyHeader } from './proxy-header-encoder';
export {
  type ProxyHeader,
  type ProxyInfo,
  type ProxyProtocolVersion,
  V1_MAX_LENGTH,
  V2_MAX_LENGTH,
  V2_SIGNATURE,
} from './proxy-info';

const P = 0x50;
const CR = 0x0d;
const V1_PREFIX = 'PROXY ';
const PROTOCOLS = ['TCP4', 'TCP6', 'UNKNOWN'] as const;

/**
 * Reads one PROXY header from the front of `queue`, removing exactly its bytes (what follows stays
 * in the queue). Returns `undefined` while more bytes are needed, having removed nothing; throws a
 * `ProxyProtocolError` for a malformed, oversized or not accepted header as soon as the bytes held
 * prove it, without waiting for the rest, and never looks past the header's bound (107 bytes for
 * v1, 16 plus the length field for v2). A prefix of a valid header is never an error.
 *
 * @param queue The connection's first bytes.
 * @param accept Which header versions are accepted.
 */
export function readProxyHeader(queue: ByteQueue, accept: ProxyProtocolVersion): ProxyHeader | undefined {
  if (queue.length === 0) return undefined;
  const first = queue.byteAt(0);
  if (first === P) {
    if (accept === 'v2') throw new ProxyProtocolError('a v1 header arrived where only v2 is accepted');
    return readV1(queue);
  }
  if (first === CR) {
    if (accept === 'v1') throw new ProxyProtocolError('a v2 header arrived where only v1 is accepted');
    return readV2(queue);
  }
  throw new ProxyProtocolError(`no PROXY header: the first byte is 0x${hex(first)}`);
}

function readV1(queue: ByteQueue): ProxyHeader | undefined {
  const held = Math.min(queue.length, V1_MAX_LENGTH);
  // latin1 maps each byte to one character, so positions in the text are positions in the queue.
  const line = queue.text(0, held, 'latin1');
  const read = parseV1(line);
  if (read === undefined) {
    if (held === V1_MAX_LENGTH) {
      throw new ProxyProtocolError(`v1 header: no CRLF within ${V1_MAX_LENGTH} bytes`);
    }
    return undefined;
  }
  queue.skip(read.length);
  return read.header;
}

/**
 * The v1 line at the start of `line`: the header and its length with the CRLF, or `undefined`
 * while what is there may still become one. Each field is checked as soon as its first characters
 * are in, so garbage is refused at the first byte no valid header could hold.
 */
function parseV1(line: string): { header: ProxyHeader; length: number } | undefined {
  const start = line.slice(0, V1_PREFIX.length);
  if (!V1_PREFIX.startsWith(start)) throw v1Error(`must start with "PROXY ", got ${quote(start)}`);
  if (line.length < V1_PREFIX.length) return undefined;
  const protocolEnd = fieldEnd(line, V1_PREFIX.length);
  const protocol = line.slice(V1_PREFIX.length, protocolEnd === -1 ? undefined : protocolEnd);
  if (protocolEnd === -1) {
    if (!PROTOCOLS.some((known) => known.startsWith(protocol))) throw badProtocol(protocol);
    return undefined;
  }
  if (protocol === 'UNKNOWN') return parseUnknown(line, protocolEnd);
  if (protocol !== 'TCP4' && protocol !== 'TCP6') throw badProtocol(protocol);
  const scan = protocol === 'TCP4' ? scanIPv4 : scanIPv6;
  const fields: string[] = [];
  let at = protocolEnd;
  for (const [name, check] of V1_FIELDS) {
    if (at === line.length) return undefined;
    if (line[at] !== ' ') throw v1Error(`expected a single space before the ${name}, got ${quote(line[at])}`);
    const end = fieldEnd(line, at + 1);
    const field = line.slice(at + 1, end === -1 ? undefined : end);
    const scanned = check === 'address' ? scan(field) : scanPort(field);
    if (end === -1) {
      if (scanned === undefined) throw badField(name, protocol, field);
      return undefined;
    }
    if (!(scanned instanceof Uint8Array || typeof scanned === 'number'))
      throw badField(name, protocol, field);
    fields.push(field);
    at = end;
  }
  const length = crlfEnd(line, at);
  if (length === undefined) return undefined;
  const host = (text: string) => (protocol === 'TCP4' ? text : ipv6Host(scanIPv6(text) as Uint8Array));
  const [source, destination, sourcePort, destinationPort] = fields;
  const proxy: ProxyInfo = {
    source: { family: 'inet', host: host(source), port: Number(sourcePort) },
    destination: { family: 'inet', host: host(destination), port: Number(destinationPort) },
    tlvs: new Map(),
  };
  return { header: { version: 1, proxy }, length };
}

/** The four fields after TCP4 or TCP6, each after one space; the last is followed by the CRLF. */
const V1_FIELDS = [
  ['source address', 'address'],
  ['destination address', 'address'],
  ['source port', 'port'],
  ['destination port', 'port'],
] as const;

/**
 * `PROXY UNKNOWN` is followed by CRLF, or by a space and anything up to the CRLF, which the
 * receiver ignores.
 */
function parseUnknown(line: string, at: number): { header: ProxyHeader; length: number } | undefined {
  let end = at;
  if (line[at] === ' ') {
    end = line.indexOf('\n', at);
    if (end === -1) return undefined;
    end--;
  }
  const length = crlfEnd(line, end);
  return length === undefined ? undefined : { header: { version: 1, proxy: null }, length };
}

/** The length of the line when a CRLF stands at `at`, undefined while it may still come. */
function crlfEnd(line: string, at: number): number | undefined {
  const ending = line.slice(at, at + 2);
  if (!'\r\n'.startsWith(ending)) throw v1Error(`expected CRLF at byte ${at}, got ${quote(ending)}`);
  return ending.length === 2 ? at + 2 : undefined;
}

/** The index of the space, CR or LF ending the field that starts at `from`, or -1. */
function fieldEnd(line: string, from: number): number {
  for (let i = from; i < line.length; i++) {
    const c = line[i];
    if (c === ' ' || c === '\r' || c === '\n') return i;
  }
  return -1;
}

/**
 * A port: decimal 0..65535 without leading zeros. The number when `text` is one, `'partial'` when
 * more digits could make it one, `undefined` when none can.
 */
function scanPort(text: string): number | 'partial' | undefined {
  if (text === '') return 'partial';
  if (!/^\d{1,5}$/.test(text) || (text[0] === '0' && text.length > 1)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function readV2(queue: ByteQueue): ProxyHeader | undefined {
  const held = Math.min(queue.length, 16);
  for (let i = 0; i < Math.min(held, V2_SIGNATURE.length); i++) {
    if (queue.byteAt(i) !== V2_SIGNATURE[i]) {
      throw new ProxyProtocolError(`v2 header: bad signature: byte ${i} is 0x${hex(queue.byteAt(i))}`);
    }
  }
  if (held < 13) return undefined;
  const versionAndCommand = queue.byteAt(12);
  if (versionAndCommand >> 4 !== 2) {
    throw new ProxyProtocolError(`v2 header: version must be 2, got ${versionAndCommand >> 4}`);
  }
  const command = versionAndCommand & 0x0f;
  if (command > 1) throw new ProxyProtocolError(`v2 header: unknown command ${command}`);
  if (held < 14) return undefined;
  const family = checkFamily(queue.byteAt(13), command === 1);
  if (held < 16) return undefined;
  const length = (queue.byteAt(14) << 8) | queue.byteAt(15);
  if (length > V2_MAX_LENGTH) {
    throw new ProxyProtocolError(`v2 header: length ${length} is over the limit of ${V2_MAX_LENGTH}`);
  }
  // LOCAL (a health check) and AF_UNSPEC carry no addresses: their block is discarded unread.
  if (command === 0 || family === 0) {
    if (queue.length < 16 + length) return undefined;
    queue.skip(16 + length);
    return { version: 2, proxy: null };
  }
  const addressLength = V2_ADDRESS_LENGTH[family];
  if (length < addressLength) {
    throw new ProxyProtocolError(
      `v2 header: length ${length} is too short for the ${addressLength}-byte address block of family ${family}`,
    );
  }
  checkTlvs(queue, addressLength, length);
  if (queue.length < 16 + length) return undefined;
  const block = queue.peek(16, length);
  const proxy: ProxyInfo = { ...addressesOf(block, family), tlvs: tlvsOf(block, addressLength) };
  queue.skip(16 + length);
  return { version: 2, proxy };
}

/**
 * The address family (0 AF_UNSPEC, 1 AF_INET, 2 AF_INET6, 3 AF_UNIX) of the family byte, which must
 * say a stream; for `LOCAL`, and for AF_UNSPEC, an unspecified transport will do.
 */
function checkFamily(byte: number, proxyCommand: boolean): number {
  const family = byte >> 4;
  const transport = byte & 0x0f;
  if (family > 3) throw new ProxyProtocolError(`v2 header: unknown address family ${family}`);
  if (transport === 2)
    throw new ProxyProtocolError('v2 header: a datagram (DGRAM) header on a stream connection');
  if (transport > 2) throw new ProxyProtocolError(`v2 header: unknown transport protocol ${transport}`);
  if (transport === 0 && proxyCommand && family !== 0) {
    throw new ProxyProtocolError(`v2 header: address family ${family} with an unspecified transport`);
  }
  return family;
}

/**
 * Walks the TLV headers held, from `offset` in the block of `length` bytes, and throws at the first
 * that runs past the block's end, even before the rest of the block has arrived.
 */
function checkTlvs(queue: ByteQueue, offset: number, length: number): void {
  while (offset < length) {
    if (length - offset < 3) {
      throw new ProxyProtocolError(
        `v2 header: ${length - offset} bytes after the last TLV, less than a TLV header`,
      );
    }
    if (queue.length < 16 + offset + 3) return;
    const tlvLength = (queue.byteAt(16 + offset + 1) << 8) | queue.byteAt(16 + offset + 2);
    if (offset + 3 + tlvLength > length) {
      const type = queue.byteAt(16 + offset);
      throw new ProxyProtocolError(
        `v2 header: TLV 0x${hex(type)} of ${tlvLength} bytes at byte ${16 + offset} runs past the header's end`,
      );
    }
    offset += 3 + tlvLength;
  }
}

function addressesOf(block: Buffer, family: number): Pick<ProxyInfo, 'source' | 'destination'> {
  if (family === 1) {
    return {
      source: { family: 'inet', host: formatIPv4(block, 0), port: block.readUInt16BE(8) },
      destination: { family: 'inet', host: formatIPv4(block, 4), port: block.readUInt16BE(10) },
    };
  }
  if (family === 2) {
    return {
      source: { family: 'inet', host: ipv6Host(block, 0), port: block.readUInt16BE(32) },
      destination: { family: 'inet', host: ipv6Host(block, 16), port: block.readUInt16BE(34) },
    };
  }
  return {
    source: { family: 'unix', path: unixPath(block, 0) },
    destination: { family: 'unix', path: unixPath(block, V2_UNIX_PATH_LENGTH) },
  };
}

/** A `sun_path` field: the UTF-8 text up to its first NUL (an abstract socket's is empty). */
function unixPath(block: Buffer, offset: number): string {
  const end = block.indexOf(0, offset);
  const stop = end === -1 || end > offset + V2_UNIX_PATH_LENGTH ? offset + V2_UNIX_PATH_LENGTH : end;
  return block.toString('utf8', offset, stop);
}

/**
 * The TLVs after the address block (already checked to fit), their values copied out together so
 * that they do not keep the connection's receive buffers alive.
 */
function tlvsOf(block: Buffer, offset: number): ReadonlyMap<number, Buffer> {
  if (offset === block.length) return new Map();
  const bytes = Buffer.from(block.subarray(offset));
  const tlvs = new Map<number, Buffer>();
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUInt16BE(at + 1);
    tlvs.set(bytes[at], bytes.subarray(at + 3, at + 3 + length));
    at += 3 + length;
  }
  return tlvs;
}

function v1Error(message: string): ProxyProtocolError {
  return new ProxyProtocolError(`v1 header: ${message}`);
}

function badProtocol(protocol: string): ProxyProtocolError {
  return v1Error(`protocol must be TCP4, TCP6 or UNKNOWN, got ${quote(protocol)}`);
}

function badField(name: string, protocol: string, field: string): ProxyProtocolError {
  const what = name.endsWith('port')
    ? 'a decimal 0..65535 without leading zeros'
    : `an ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'} address`;
  return v1Error(`${name} must be ${what}, got ${quote(field)}`);
}

/** Peer bytes in a message: quoted, control characters escaped. */
function quote(text: string): string {
  return JSON.stringify(text);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
