import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { formatIPv4, formatIPv6, ipv6Host, scanIPv4, scanIPv6 } from '../../src/bytes/ip-literal';

/** Node's own text for an IPv6 literal: what a socket's `remoteAddress` would say. */
const nodeText = (address: string) => new SocketAddress({ address, family: 'ipv6' }).address;

/** Sixteen bytes, zeros frequent so that runs of zero groups and embedded IPv4 forms come up. */
const ipv6Bytes = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((words) => {
    const bytes = new Uint8Array(16);
    words.forEach((word, k) => {
      bytes[2 * k] = word >> 8;
      bytes[2 * k + 1] = word & 0xff;
    });
    return bytes;
  });

/** The eight groups of `bytes`, uncompressed, each padded to a random width and case. */
const spelled = (bytes: Uint8Array, pads: number[], upper: boolean) =>
  Array.from({ length: 8 }, (_, k) => {
    const word = ((bytes[2 * k] << 8) | bytes[2 * k + 1]).toString(16);
    const text = word.padStart(Math.max(word.length, pads[k % pads.length]), '0');
    return upper ? text.toUpperCase() : text;
  });

/**
 * Every way of writing an IPv6 address: any run of zero groups (one or more) as `::`, any padding
 * and case, the last two groups as a dotted quad or not.
 */
const ipv6Text = fc
  .record({
    bytes: ipv6Bytes,
    pads: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
    upper: fc.boolean(),
    dotted: fc.boolean(),
    runPick: fc.nat(),
  })
  .map(({ bytes, pads, upper, dotted, runPick }) => {
    const groups = spelled(bytes, pads, upper);
    if (dotted) groups.splice(6, 2, formatIPv4(bytes, 12));
    const slots = groups.length;
    const zero = (k: number) => /^0+$/.test(groups[k]);
    const runs: [number, number][] = [];
    for (let from = 0; from < slots; from++) {
      for (let to = from + 1; to <= slots && zero(to - 1); to++) runs.push([from, to]);
    }
    const text =
      runs.length === 0 || runPick % 3 === 0
        ? groups.join(':')
        : (() => {
            const [from, to] = runs[runPick % runs.length];
            return `${groups.slice(0, from).join(':')}::${groups.slice(to).join(':')}`;
          })();
    return { text, bytes };
  });

/** Short strings over the characters of IPv6 literals, to hit every malformed shape. */
const ipv6Like = fc
  .array(fc.constantFrom('0', '1', '9', 'a', 'F', 'ffff', '255', '256', '00', ':', ':', '.', '::'), {
    maxLength: 16,
  })
  .map((parts) => parts.join(''));

/**
 * Whether some continuation of `prefix` is an IPv6 literal by Node's judgement, searched depth-first
 * over a small alphabet and pruned by the scanner itself: it finds one whenever the scanner only
 * keeps prefixes that can be completed.
 */
function completable(prefix: string): boolean {
  let budget = 2000;
  const search = (text: string): boolean => {
    if (isIPv6(text)) return true;
    if (text.length >= 45 || --budget < 0) return false;
    return ['0', ':', '.'].some((c) => scanIPv6(text + c) !== undefined && search(text + c));
  };
  return search(prefix);
}

describe('scanIPv4', () => {
  it('reads dotted quads and refuses what isIPv4 refuses', () => {
    expect(scanIPv4('192.168.0.1')).toEqual(Uint8Array.of(192, 168, 0, 1));
    expect(scanIPv4('0.0.0.0')).toEqual(Uint8Array.of(0, 0, 0, 0));
    for (const bad of ['01.2.3.4', '1.2.3.256', '1..2.3', '1.2.3.4.5', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4 '])
      expect(scanIPv4(bad)).toBeUndefined();
    expect(scanIPv4('1.2.3')).toBe('partial');
    expect(scanIPv4('1.2.3.')).toBe('partial');
    expect(scanIPv4('')).toBe('partial');
  });

  it('agrees with node:net, and keeps every prefix of an address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.stringMatching(/^[0-9.]{0,16}$/)), (text) => {
        expect(scanIPv4(text) instanceof Uint8Array).toBe(isIPv4(text));
        if (isIPv4(text)) {
          expect(formatIPv4(scanIPv4(text) as Uint8Array)).toBe(text);
          for (let n = 0; n < text.length; n++) expect(scanIPv4(text.slice(0, n))).not.toBeUndefined();
        }
      }),
    );
  });
});

describe('scanIPv6', () => {
  it('reads the usual forms', () => {
    const host = (text: string) => formatIPv6(scanIPv6(text) as Uint8Array);
    expect(host('::')).toBe('::');
    expect(host('::1')).toBe('::1');
    expect(host('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(host('1:2:3:4:5:6:7::')).toBe('1:2:3:4:5:6:7:0');
    expect(host('::2:3:4:5:6:7:8')).toBe('0:2:3:4:5:6:7:8');
    expect(host('::ffff:1.2.3.4')).toBe('::ffff:1.2.3.4');
    expect(host('1:2:3:4:5:6:1.2.3.4')).toBe('1:2:3:4:5:6:102:304');
  });

  it('refuses at the first character no address can have', () => {
    for (const bad of [
      ':1',
      ':::',
      '1::2::3',
      '12345',
      '1:2:3:4:5:6:7:8:',
      '::1:2:3:4:5:6:7:',
      '1.',
      '::1.2.3.4:',
      'g',
      '1::%',
    ])
      expect(scanIPv6(bad)).toBeUndefined();
    for (const partial of ['', ':', '1:', '1:2:3:4:5:6:7', '::ffff:1.2'])
      expect(scanIPv6(partial)).toBe('partial');
  });

  it('agrees with node:net on what is an address, and on its bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          ipv6Like,
          fc.ipV6(),
          ipv6Text.map(({ text }) => text),
        ),
        (text) => {
          const scanned = scanIPv6(text);
          expect(scanned instanceof Uint8Array).toBe(isIPv6(text));
          if (scanned instanceof Uint8Array) expect(formatIPv6(scanned)).toBe(nodeText(text));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps every prefix of an address, and refuses only what cannot be completed', () => {
    fc.assert(
      fc.property(ipv6Text, ({ text, bytes }) => {
        expect(scanIPv6(text)).toEqual(bytes);
        for (let n = 0; n < text.length; n++) expect(scanIPv6(text.slice(0, n))).not.toBeUndefined();
      }),
    );
    fc.assert(
      fc.property(ipv6Like, (text) => {
        if (scanIPv6(text) === undefined) {
          for (const more of ['', '1', ':1', '::', '.1.2.3', '::1']) expect(isIPv6(text + more)).toBe(false);
        } else {
          expect(completable(text)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('formatIPv6 and ipv6Host', () => {
  it('print sixteen bytes as Node prints a socket address', () => {
    fc.assert(
      fc.property(ipv6Bytes, fc.boolean(), (bytes, upper) => {
        const full = spelled(bytes, [4], upper).join(':');
        expect(formatIPv6(bytes)).toBe(nodeText(full));
      }),
      { numRuns: 1000 },
    );
  });

  it('reports an IPv4-mapped address as IPv4, as Connection does, and nothing else', () => {
    const mapped = scanIPv6('::ffff:10.0.0.1') as Uint8Array;
    expect(ipv6Host(mapped)).toBe('10.0.0.1');
    expect(ipv6Host(scanIPv6('::10.0.0.1') as Uint8Array)).toBe('::10.0.0.1');
    expect(ipv6Host(scanIPv6('1::ffff:10.0.0.1') as Uint8Array)).toBe('1::ffff:a00:1');
    expect(ipv6Host(scanIPv6('2001:db8::1') as Uint8Array)).toBe('2001:db8::1');
  });
});
