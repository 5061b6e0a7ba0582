import { isIPv4, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { type InetAddress, type UnixAddress, unmapIPv4 } from '../../src/address';
import { ByteQueue } from '../../src/bytes/byte-queue';
import {
  encodeProxyHeader,
  type ProxyHeader,
  type ProxyInfo,
  type ProxyProtocolVersion,
  readProxyHeader,
  V1_MAX_LENGTH,
  V2_SIGNATURE,
} from '../../src/bytes/proxy-header';
import { ProxyProtocolError } from '../../src/errors';
import { latin1 as b, sizes as chunkSizes, cut } from '../helpers/framing';

/** A queue that records the furthest position any read of it looked at. */
class WatchedQueue extends ByteQueue {
  furthest = 0;

  constructor() {
    super(0);
  }

  private saw(end: number): void {
    this.furthest = Math.max(this.furthest, end);
  }

  override byteAt(index: number): number {
    this.saw(index + 1);
    return super.byteAt(index);
  }

  override peek(start: number, n: number): Buffer {
    this.saw(start + n);
    return super.peek(start, n);
  }

  override text(start: number, end: number, encoding: BufferEncoding): string {
    this.saw(end);
    return super.text(start, end, encoding);
  }

  override indexOf(needle: Uint8Array | number, from = 0): number {
    this.saw(Number.POSITIVE_INFINITY);
    return super.indexOf(needle, from);
  }

  override take(n: number): Buffer {
    this.saw(n);
    return super.take(n);
  }

  override skip(n: number): void {
    this.saw(n);
    super.skip(n);
  }

  override takeAll(): Buffer {
    this.saw(Number.POSITIVE_INFINITY);
    return super.takeAll();
  }

  /** What is left, read without counting as a read of the decoder. */
  rest(): Buffer {
    const parts: Buffer[] = [];
    this.forEachChunk((chunk) => parts.push(chunk));
    return Buffer.concat(parts);
  }
}

interface Fed {
  queue: WatchedQueue;
  header?: ProxyHeader;
  error?: unknown;
  /** Bytes held at the call that answered (or at the end, with no answer). */
  held: number;
  /** Bytes the answering call removed. */
  removed: number;
}

/**
 * Pushes `chunks` one at a time and reads after each, as a server does, until an answer. A call
 * that asks for more bytes or throws must have removed nothing.
 */
function feed(chunks: Buffer[], accept: ProxyProtocolVersion = 'any'): Fed {
  const queue = new WatchedQueue();
  for (const chunk of chunks) {
    queue.push(chunk);
    const held = queue.length;
    let header: ProxyHeader | undefined;
    try {
      header = readProxyHeader(queue, accept);
    } catch (error) {
      expect(queue.length).toBe(held);
      return { queue, error, held, removed: 0 };
    }
    if (header !== undefined) return { queue, header, held, removed: held - queue.length };
    expect(queue.length).toBe(held);
  }
  return { queue, held: queue.length, removed: 0 };
}

/** The number of bytes, fed one by one, at which reading first throws (-1: never), checking it throws a ProxyProtocolError. */
function failsAt(bytes: Buffer, accept: ProxyProtocolVersion = 'any'): number {
  const { error, held } = feed(
    [...bytes].map((byte) => Buffer.of(byte)),
    accept,
  );
  if (error === undefined) return -1;
  expect(error).toBeInstanceOf(ProxyProtocolError);
  expect(error).toMatchObject({ code: 'ERR_RXTCP_PROXY_PROTOCOL' });
  return held;
}

/** Reads one header from `bytes` in one chunk; returns it and the bytes left. */
function readAll(
  bytes: Buffer,
  accept: ProxyProtocolVersion = 'any',
): { header?: ProxyHeader; rest: Buffer } {
  const { header, queue, error } = feed([bytes], accept);
  if (error !== undefined) throw error;
  return { header, rest: queue.rest() };
}

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
/** A v2 header: the signature, then `command` (0 LOCAL, 1 PROXY), the family byte, and the block with its length. */
function v2(command: number, family: number, ...block: Buffer[]): Buffer {
  const body = Buffer.concat(block);
  return Buffer.concat([
    V2_SIGNATURE,
    Buffer.of(0x20 | command, family, body.length >> 8, body.length & 0xff),
    body,
  ]);
}
function tlv(type: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? b(value) : value;
  return Buffer.concat([Buffer.of(type, bytes.length >> 8, bytes.length & 0xff), bytes]);
}
const inet = (host: string, port: number): InetAddress => ({ family: 'inet', host, port });
const unix = (path: string): UnixAddress => ({ family: 'unix', path });
const noTlvs = new Map<number, Buffer>();
/** Node's text for an IPv6 literal, an IPv4-mapped one reported as IPv4, as a socket reports it. */
const nodeHost = (host: string) =>
  isIPv4(host) ? host : unmapIPv4(new SocketAddress({ address: host, family: 'ipv6' }).address);

describe('readProxyHeader', () => {
  describe('v1', () => {
    it('reads a TCP4 line and leaves what follows', () => {
      const { header, rest } = readAll(
        b('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n'),
      );
      expect(header).toEqual({
        version: 1,
        proxy: { source: inet('192.168.0.1', 56324), destination: inet('192.168.0.11', 443), tlvs: noTlvs },
      });
      expect(rest.toString()).toBe('GET / HTTP/1.1\r\n');
    });

    it('reads a TCP6 line into Node canonical text, IPv4-mapped as IPv4', () => {
      const { header } = readAll(b('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:10.0.0.1 0 65535\r\n'));
      expect(header?.proxy).toEqual({
        source: inet('2001:db8::1', 0),
        destination: inet('10.0.0.1', 65535),
        tlvs: noTlvs,
      });
      const max = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
      expect(readAll(b(`PROXY TCP6 ${max} ${max} 65535 65535\r\n`)).header?.proxy?.source).toEqual(
        inet(max, 65535),
      );
    });

    it('reads UNKNOWN, bare or followed by anything, as no addresses', () => {
      expect(readAll(b('PROXY UNKNOWN\r\nrest'))).toEqual({
        header: { version: 1, proxy: null },
        rest: b('rest'),
      });
      // The specification's worst case: exactly 107 bytes.
      const longest = b(`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`);
      expect(longest.length).toBe(V1_MAX_LENGTH);
      expect(readAll(Buffer.concat([longest, b('x')]))).toEqual({
        header: { version: 1, proxy: null },
        rest: b('x'),
      });
      expect(readAll(b('PROXY UNKNOWN \x00\xff\r junk\r\n')).header).toEqual({ version: 1, proxy: null });
    });

    it('waits for the CRLF up to 107 bytes, and refuses the 107th byte without it', () => {
      const unended = b(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 14)}`);
      expect(unended.length).toBe(V1_MAX_LENGTH);
      expect(feed([unended.subarray(0, V1_MAX_LENGTH - 1)]).error).toBeUndefined();
      expect(failsAt(Buffer.concat([unended, b('\r\n')]))).toBe(V1_MAX_LENGTH);
      // Well-formed but written long: the bound holds whatever the fields say.
      const wide = '0000:0000:0000:0000:0000:0000:255.255.255.255';
      expect(failsAt(b(`PROXY TCP6 ${wide} ${wide} 65535 65535\r\n`))).toBe(V1_MAX_LENGTH);
    });

    it('looks at no more than 107 bytes, whatever is held', () => {
      const line = b('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
      const after = Buffer.alloc(300, 0x20);
      const read = feed([Buffer.concat([line, after])]);
      expect(read.removed).toBe(line.length);
      expect(read.queue.furthest).toBeLessThanOrEqual(V1_MAX_LENGTH);
      const unended = feed([Buffer.concat([b('PROXY UNKNOWN '), after, b('\r\n')])]);
      expect(unended.error).toBeInstanceOf(ProxyProtocolError);
      expect(unended.queue.furthest).toBe(V1_MAX_LENGTH);
    });

    it.each([
      ['not PROXY at all', 'GET / HTTP/1.1\r\n', 'G'],
      ['lower case', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'p'],
      ['no space after PROXY', 'PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY\t'],
      ['two spaces', 'PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY  '],
      ['an unknown protocol', 'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY TCP5'],
      ['UNKNOWN run on', 'PROXY UNKNOWNX\r\n', 'PROXY UNKNOWNX'],
      ['UNKNOWN ended by LF alone', 'PROXY UNKNOWN junk\n', 'PROXY UNKNOWN junk\n'],
      ['two spaces between addresses', 'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', 'PROXY TCP4 1.2.3.4  '],
      ['an IPv4 octet over 255', 'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', 'PROXY TCP4 1.2.3.256'],
      ['an IPv4 octet with a leading zero', 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', 'PROXY TCP4 01'],
      ['three IPv4 octets', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', 'PROXY TCP4 1.2.3 '],
      ['IPv6 under TCP4', 'PROXY TCP4 ::1 ::1 1 2\r\n', 'PROXY TCP4 :'],
      ['IPv4 under TCP6', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'PROXY TCP6 1.'],
      ['a malformed IPv6 address', 'PROXY TCP6 1:::2 ::1 1 2\r\n', 'PROXY TCP6 1:::'],
      ['nine IPv6 groups', 'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', 'PROXY TCP6 1:2:3:4:5:6:7:8:'],
      [
        'a port with a leading zero',
        'PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n',
        'PROXY TCP4 1.2.3.4 5.6.7.8 08',
      ],
      ['a port over 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536'],
      ['a signed port', 'PROXY TCP4 1.2.3.4 5.6.7.8 +1 443\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 +'],
      ['a missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r'],
      ['a trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 '],
      ['LF without CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
      ['CR without LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r'],
    ])('refuses %s at the first byte that proves it', (_name, input, proof) => {
      expect(failsAt(b(input))).toBe(proof.length);
    });
  });

  describe('v2', () => {
    const sig = '0d0a0d0a000d0a515549540a';

    it('reads an AF_INET header, as HAProxy sends it, and leaves what follows', () => {
      const { header, rest } = readAll(hex(`${sig} 21 11 000c ac130001 ac130003 a652 0050 47455420`));
      expect(header).toEqual({
        version: 2,
        proxy: { source: inet('172.19.0.1', 42578), destination: inet('172.19.0.3', 80), tlvs: noTlvs },
      });
      expect(rest.toString()).toBe('GET ');
    });

    it('reads an AF_INET6 header with its TLVs', () => {
      const addresses = hex(`20010db8000000000000000000000001 00000000000000000000ffff0a000001 1f90 01bb`);
      const { header } = readAll(v2(1, 0x21, addresses, tlv(0x01, 'h2'), tlv(0x02, 'example.com')));
      expect(header?.proxy).toEqual({
        source: inet('2001:db8::1', 8080),
        destination: inet('10.0.0.1', 443),
        tlvs: new Map([
          [0x01, b('h2')],
          [0x02, b('example.com')],
        ]),
      });
    });

    it('reads an AF_UNIX header: each path up to its NUL', () => {
      const path = (text: string) => Buffer.concat([b(text), Buffer.alloc(108 - text.length)]);
      const { header } = readAll(v2(1, 0x31, path('/run/client.sock'), path('/run/server.sock')));
      expect(header?.proxy).toEqual({
        source: unix('/run/client.sock'),
        destination: unix('/run/server.sock'),
        tlvs: noTlvs,
      });
      const full = b('p'.repeat(108));
      expect(readAll(v2(1, 0x31, full, Buffer.alloc(108))).header?.proxy?.source).toEqual(
        unix('p'.repeat(108)),
      );
    });

    it('gives no addresses for LOCAL, whatever its block holds, and for AF_UNSPEC', () => {
      const local = { header: { version: 2, proxy: null }, rest: b('next') };
      expect(readAll(Buffer.concat([v2(0, 0x00), b('next')]))).toEqual(local);
      expect(readAll(Buffer.concat([v2(0, 0x11, Buffer.alloc(5)), b('next')]))).toEqual(local);
      expect(readAll(Buffer.concat([v2(1, 0x00, tlv(1, 'x')), b('next')]))).toEqual(local);
    });

    it('keeps the last of a repeated TLV type, at the place of the first, and empty values', () => {
      const inet4 = hex('01020304 05060708 0001 0002');
      const { header } = readAll(v2(1, 0x11, inet4, tlv(5, 'a'), tlv(9, ''), tlv(5, 'b'), tlv(0xff, 'z')));
      const tlvs = header?.proxy?.tlvs;
      expect([...(tlvs ?? [])]).toEqual([
        [5, b('b')],
        [9, b('')],
        [0xff, b('z')],
      ]);
    });

    it('copies TLV values out of the bytes received', () => {
      const bytes = v2(1, 0x11, Buffer.alloc(12), tlv(1, 'abc'));
      const value = readAll(bytes).header?.proxy?.tlvs.get(1);
      bytes.fill(0);
      expect(value).toEqual(b('abc'));
    });

    it('accepts a length of 4096 and waits for all of it', () => {
      const header = v2(1, 0x11, Buffer.alloc(12), tlv(1, Buffer.alloc(4096 - 15, 7)));
      expect(header.length).toBe(16 + 4096);
      expect(feed([header.subarray(0, -1)]).header).toBeUndefined();
      expect(readAll(header).header?.proxy?.tlvs.get(1)?.length).toBe(4081);
    });

    const inet4 = Buffer.alloc(12);
    it.each([
      ['a bad signature', hex(`0d0a0d0a000d0a5155495400 21 11 000c`), 12],
      ['a bad second byte', hex(`0d0d`), 2],
      ['version 1', hex(`${sig} 11 11 000c`), 13],
      ['version 3', hex(`${sig} 31 11 000c`), 13],
      ['command 2', hex(`${sig} 22 11 000c`), 13],
      ['address family 4', hex(`${sig} 21 41 000c`), 14],
      ['a datagram transport', hex(`${sig} 21 12 000c`), 14],
      ['transport 3', hex(`${sig} 21 13 000c`), 14],
      ['AF_INET without a transport', hex(`${sig} 21 10 000c`), 14],
      ['LOCAL with family 5', hex(`${sig} 20 51 0000`), 14],
      ['a length of 4097', hex(`${sig} 21 11 1001`), 16],
      ['a LOCAL length of 65535', hex(`${sig} 20 00 ffff`), 16],
      ['a short AF_INET block', v2(1, 0x11, Buffer.alloc(11)), 16],
      ['a short AF_INET6 block', v2(1, 0x21, Buffer.alloc(35)), 16],
      ['a short AF_UNIX block', v2(1, 0x31, Buffer.alloc(215)), 16],
      ['two bytes after the addresses', v2(1, 0x11, inet4, Buffer.alloc(2)), 16],
      ['a TLV running past the end', v2(1, 0x11, inet4, tlv(1, 'abcde').subarray(0, 6)), 16 + 12 + 3],
      ['a TLV header cut by the end', v2(1, 0x11, inet4, tlv(1, 'a'), Buffer.alloc(2)), 16 + 12 + 3],
    ])('refuses %s at the first byte that proves it', (_name, input, proof) => {
      expect(failsAt(input)).toBe(proof);
    });
  });

  describe('accept', () => {
    const one = b('PROXY UNKNOWN\r\n');
    const two = v2(0, 0x00);

    it('takes either version with any, and only its own otherwise, from the first byte', () => {
      expect(readAll(one, 'any').header?.version).toBe(1);
      expect(readAll(two, 'any').header?.version).toBe(2);
      expect(readAll(one, 'v1').header?.version).toBe(1);
      expect(readAll(two, 'v2').header?.version).toBe(2);
      expect(failsAt(two, 'v1')).toBe(1);
      expect(failsAt(one, 'v2')).toBe(1);
    });
  });
});

const port = fc.integer({ min: 0, max: 65535 });
const host = fc.oneof(fc.ipV4(), fc.ipV6());
const inetAddress = fc.record({ family: fc.constant('inet' as const), host, port });
const unixAddress = fc.record({
  family: fc.constant('unix' as const),
  path: fc.oneof(
    fc
      .string({ unit: 'grapheme', maxLength: 30 })
      .filter((p) => !p.includes('\0') && Buffer.byteLength(p) <= 108),
    fc.constant('/'.repeat(108)),
  ),
});
const tlvMap = fc
  .array(
    fc.tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 40 }).map((v) => Buffer.from(v)),
    ),
    {
      maxLength: 6,
    },
  )
  .map((entries) => new Map(entries));
/** A ProxyInfo `version` can carry, or null. */
const proxyInfo = (version: 1 | 2): fc.Arbitrary<ProxyInfo | null> =>
  fc.oneof(
    fc.constant(null),
    fc.record({
      source: inetAddress,
      destination: inetAddress,
      tlvs: version === 1 ? fc.constant(noTlvs) : tlvMap,
    }),
    ...(version === 2 ? [fc.record({ source: unixAddress, destination: unixAddress, tlvs: tlvMap })] : []),
  );
const versioned = fc
  .constantFrom<1 | 2>(1, 2)
  .chain((version) => fc.tuple(fc.constant(version), proxyInfo(version)));
const validHeader = versioned.map(([version, proxy]) => encodeProxyHeader(version, proxy));

/** What reading back `proxy` gives: hosts in Node's canonical text. */
function readBack(proxy: ProxyInfo | null): ProxyInfo | null {
  if (proxy === null) return null;
  const end = (a: InetAddress | UnixAddress) => (a.family === 'unix' ? a : inet(nodeHost(a.host), a.port));
  return { source: end(proxy.source), destination: end(proxy.destination), tlvs: proxy.tlvs };
}

/** The furthest byte a reader may look at for `input`: the header's bound. */
function boundOf(input: Buffer): number {
  if (input[0] === 0x50) return V1_MAX_LENGTH;
  if (input[0] !== 0x0d) return 1;
  if (input.length < 16) return 16;
  const length = input.readUInt16BE(14);
  return 16 + (length > 4096 ? 0 : length);
}

describe('readProxyHeader and encodeProxyHeader, for any header and any chunking', () => {
  it('read back what was encoded, as soon as it is complete, leaving exactly what follows', () => {
    fc.assert(
      fc.property(
        versioned,
        fc.uint8Array({ maxLength: 30 }),
        chunkSizes(40),
        fc.boolean(),
        (vp, after, sizes, any) => {
          const [version, proxy] = vp;
          const header = encodeProxyHeader(version, proxy);
          const input = Buffer.concat([header, after]);
          const chunks = cut(input, sizes);
          const fed = feed(chunks, any ? 'any' : version === 1 ? 'v1' : 'v2');
          expect(fed.error).toBeUndefined();
          expect(fed.header).toEqual({ version, proxy: readBack(proxy) });
          expect([...(fed.header?.proxy?.tlvs.keys() ?? [])]).toEqual([...(proxy?.tlvs.keys() ?? [])]);
          // Answered by the first call holding the whole header, which removed exactly the header.
          let pushed = 0;
          for (const chunk of chunks) {
            pushed += chunk.length;
            if (pushed >= header.length) break;
          }
          expect(fed.held).toBe(pushed);
          expect(fed.removed).toBe(header.length);
          expect(fed.queue.rest()).toEqual(input.subarray(header.length, pushed));
          expect(fed.queue.furthest).toBeLessThanOrEqual(version === 1 ? V1_MAX_LENGTH : header.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never takes a prefix of a valid header for an error', () => {
    const repeated = fc
      .array(fc.tuple(fc.constantFrom(1, 2, 3), fc.uint8Array({ maxLength: 5 })), { maxLength: 5 })
      .map((list) =>
        v2(1, 0x11, Buffer.alloc(12), ...list.map(([type, value]) => tlv(type, Buffer.from(value)))),
      );
    fc.assert(
      fc.property(fc.oneof(validHeader, repeated), (header) => {
        for (let n = 0; n < header.length; n++) {
          const fed = feed([header.subarray(0, n)]);
          expect(fed.error).toBeUndefined();
          expect(fed.header).toBeUndefined();
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the last of each repeated TLV type in the order of first appearance', () => {
    const list = fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 4 })), {
      maxLength: 8,
    });
    fc.assert(
      fc.property(list, (entries) => {
        const bytes = v2(
          1,
          0x11,
          Buffer.alloc(12),
          ...entries.map(([type, value]) => tlv(type, Buffer.from(value))),
        );
        const expected = new Map(entries.map(([type, value]) => [type, Buffer.from(value)]));
        expect([...(readAll(bytes).header?.proxy?.tlvs ?? [])]).toEqual([...expected]);
      }),
    );
  });

  const v1Garbage = fc
    .tuple(
      fc.constantFrom('TCP4 ', 'TCP6 ', 'UNKNOWN', 'UNKNOWN '),
      fc.array(fc.constantFrom('1', '0', '9', '.', ':', ' ', 'f', '\r', '\n', '65535', '255.', '::'), {
        maxLength: 60,
      }),
    )
    .map(([protocol, parts]) => b(`PROXY ${protocol}${parts.join('')}`));
  const v2Garbage = fc
    .tuple(
      fc.constantFrom(0x20, 0x21, 0x11, 0x2f),
      fc.constantFrom(0x00, 0x11, 0x21, 0x31, 0x12, 0x41),
      fc.integer({ min: 0, max: 300 }),
      fc.uint8Array({ maxLength: 300 }),
    )
    .map(([command, family, length, rest]) =>
      Buffer.concat([V2_SIGNATURE, Buffer.of(command, family, length >> 8, length & 0xff), rest]),
    );
  const mutated = fc
    .tuple(validHeader, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 20 }))
    .map(([header, at, flip, after]) => {
      const copy = Buffer.from(header);
      copy[at % copy.length] ^= flip;
      return Buffer.concat([copy, after]);
    });
  const truncated = fc
    .tuple(validHeader, fc.nat(), fc.uint8Array({ maxLength: 120 }))
    .map(([header, at, after]) => Buffer.concat([header.subarray(0, at % header.length), after]));
  const v1Unended = fc
    .uint8Array({ minLength: 80, maxLength: 200 })
    .map((bytes) =>
      Buffer.concat([b('PROXY UNKNOWN '), Buffer.from(bytes.map((byte) => (byte === 0x0a ? 0x20 : byte)))]),
    );
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map(Buffer.from),
    v1Garbage,
    v1Unended,
    v2Garbage,
    mutated,
    truncated,
  );

  it('answers garbage with a ProxyProtocolError at worst, within the bound, the same whatever the chunking', () => {
    fc.assert(
      fc.property(
        garbage,
        chunkSizes(30),
        fc.constantFrom<ProxyProtocolVersion>('v1', 'v2', 'any'),
        (input, sizes, accept) => {
          const fed = feed(cut(input, sizes), accept);
          const whole = feed([input], accept);
          const bound = boundOf(input);
          if (fed.error !== undefined) expect(fed.error).toBeInstanceOf(ProxyProtocolError);
          expect(fed.queue.furthest).toBeLessThanOrEqual(bound);
          expect(whole.queue.furthest).toBeLessThanOrEqual(bound);
          // Undecided only while the bound is not in; then the same answer as in one chunk.
          if (fed.error === undefined && fed.header === undefined) expect(input.length).toBeLessThan(bound);
          expect(whole.error === undefined).toBe(fed.error === undefined);
          expect(whole.header).toEqual(fed.header);
          expect(whole.removed).toBe(fed.removed);
          expect(fed.removed).toBeLessThanOrEqual(bound);
          if (fed.header !== undefined) {
            // Exactly the header was taken: those bytes alone read the same, with nothing left.
            const alone = readAll(input.subarray(0, fed.removed), accept);
            expect(alone).toEqual({ header: fed.header, rest: Buffer.alloc(0) });
            expect(fed.queue.rest()).toEqual(input.subarray(fed.removed, fed.held));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('encodeProxyHeader', () => {
  const client = inet('203.0.113.7', 51234);
  const server = inet('192.0.2.1', 443);

  it('writes v1 lines', () => {
    const line = (proxy: ProxyInfo | null) => encodeProxyHeader(1, proxy).toString('latin1');
    expect(line({ source: client, destination: server, tlvs: noTlvs })).toBe(
      'PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n',
    );
    expect(line({ source: inet('2001:DB8:0::1', 1), destination: inet('::1', 2), tlvs: noTlvs })).toBe(
      'PROXY TCP6 2001:db8::1 ::1 1 2\r\n',
    );
    expect(line({ source: client, destination: inet('::1', 2), tlvs: noTlvs })).toBe(
      'PROXY TCP6 ::ffff:203.0.113.7 ::1 51234 2\r\n',
    );
    expect(line(null)).toBe('PROXY UNKNOWN\r\n');
  });

  it('writes v2 headers: PROXY over AF_INET as HAProxy does, LOCAL for null, AF_UNIX, TLVs in order', () => {
    const sig = '0d0a0d0a000d0a515549540a';
    const proxy = { source: inet('172.19.0.1', 42578), destination: inet('172.19.0.3', 80), tlvs: noTlvs };
    expect(encodeProxyHeader(2, proxy).toString('hex')).toBe(`${sig}2111000cac130001ac130003a6520050`);
    expect(encodeProxyHeader(2, null).toString('hex')).toBe(`${sig}20000000`);
    const tlvs = new Map([
      [9, b('z')],
      [1, b('')],
    ]);
    const withTlvs = encodeProxyHeader(2, { source: unix('/a'), destination: unix(''), tlvs });
    expect(withTlvs.subarray(12, 16).toString('hex')).toBe(
      `2131${(216 + 4 + 3).toString(16).padStart(4, '0')}`,
    );
    expect(withTlvs.subarray(16, 19)).toEqual(b('/a\0'));
    expect(withTlvs.subarray(16 + 216).toString('hex')).toBe('0900017a010000');
  });

  const ok = { source: client, destination: server, tlvs: noTlvs };
  it.each([
    ['a version of 3', () => encodeProxyHeader(3 as 1, ok), RangeError, /got 3/],
    ["a version of '1'", () => encodeProxyHeader('1' as unknown as 1, ok), TypeError, /got "1"/],
    ['a proxy that is no object', () => encodeProxyHeader(1, 5 as unknown as ProxyInfo), TypeError, /got 5/],
    [
      'a host name',
      () => encodeProxyHeader(1, { ...ok, source: inet('localhost', 1) }),
      TypeError,
      /"localhost"/,
    ],
    [
      'an IPv6 zone',
      () => encodeProxyHeader(2, { ...ok, source: inet('fe80::1%eth0', 1) }),
      TypeError,
      /fe80/,
    ],
    [
      'a port over 65535',
      () => encodeProxyHeader(1, { ...ok, source: inet('::1', 65536) }),
      RangeError,
      /65536/,
    ],
    [
      'a port as text',
      () => encodeProxyHeader(2, { ...ok, source: { ...client, port: '80' as unknown as number } }),
      TypeError,
      /"80"/,
    ],
    [
      'an unknown family',
      () => encodeProxyHeader(2, { ...ok, source: { family: 'ipx' } as unknown as UnixAddress }),
      TypeError,
      /"ipx"/,
    ],
    [
      'a Unix address in v1',
      () => encodeProxyHeader(1, { source: unix('/a'), destination: unix('/b'), tlvs: noTlvs }),
      TypeError,
      /"\/a"/,
    ],
    [
      'inet and unix mixed',
      () => encodeProxyHeader(2, { ...ok, destination: unix('/b') }),
      TypeError,
      /"\/b"/,
    ],
    [
      'a path with a NUL',
      () => encodeProxyHeader(2, { source: unix('a\0b'), destination: unix(''), tlvs: noTlvs }),
      RangeError,
      /a\\u0000b/,
    ],
    [
      'a path of 109 bytes',
      () => encodeProxyHeader(2, { source: unix('p'.repeat(109)), destination: unix(''), tlvs: noTlvs }),
      RangeError,
      /ppp/,
    ],
    ['TLVs in v1', () => encodeProxyHeader(1, { ...ok, tlvs: new Map([[1, b('x')]]) }), RangeError, /got 1/],
    [
      'TLVs not in a Map',
      () => encodeProxyHeader(2, { ...ok, tlvs: [] as unknown as Map<number, Buffer> }),
      TypeError,
      /got \[\]/,
    ],
    [
      'a TLV type of 256',
      () => encodeProxyHeader(2, { ...ok, tlvs: new Map([[256, b('x')]]) }),
      RangeError,
      /256/,
    ],
    [
      'a TLV value as text',
      () => encodeProxyHeader(2, { ...ok, tlvs: new Map([[1, 'x' as unknown as Buffer]]) }),
      TypeError,
      /"x"/,
    ],
    [
      'a TLV of 65536 bytes',
      () => encodeProxyHeader(2, { ...ok, tlvs: new Map([[1, Buffer.alloc(65536)]]) }),
      RangeError,
      /65536/,
    ],
    [
      'TLVs over 65535 bytes in all',
      () => encodeProxyHeader(2, { ...ok, tlvs: new Map([[1, Buffer.alloc(65535 - 14)]]) }),
      RangeError,
      /65536/,
    ],
  ])('refuses %s, quoting it', (_name, call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});
