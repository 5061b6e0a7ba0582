// IP address literals as bytes and back, without node:net: the PROXY protocol codec reads them off
// the wire (text in v1, bytes in v2) and must report them as Node reports a socket's address.

/**
 * What a scan of address text found: the address's bytes when the text is a whole address,
 * `'partial'` when it is not but more characters could make it one, `undefined` when none can.
 * Bytes mean the text could also go on (`1.2.3.4` → `1.2.3.45`): a caller reading a field that has
 * not ended yet only needs `!== undefined`.
 */
export type Scan = Uint8Array | 'partial' | undefined;

const DOT = 0x2e;
const COLON = 0x3a;

/** Scans a dotted-quad IPv4 literal: four decimal numbers 0..255 without leading zeros, as `isIPv4`. */
export function scanIPv4(text: string): Scan {
  const bytes = new Uint8Array(4);
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || part === 3) return undefined;
      bytes[part++] = value;
      digits = 0;
      value = 0;
    } else {
      if (c < 0x30 || c > 0x39 || (digits === 1 && value === 0)) return undefined;
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) return undefined;
    }
  }
  if (part < 3 || digits === 0) return 'partial';
  bytes[3] = value;
  return bytes;
}

/** Where an IPv6 scan stands after each character. */
type IPv6State =
  | 'start'
  /** One `:` at the very start, which only a second `:` may follow. */
  | 'leadingColon'
  /** Inside a group of hex digits (or a dotted-quad tail). */
  | 'group'
  /** One `:` after a group. */
  | 'colon'
  /** `::`. */
  | 'double';

/**
 * Scans an IPv6 literal as `isIPv6` accepts it, zone excepted: eight groups of 1 to 4 hex digits,
 * one `::` standing for one or more zero groups, and an optional dotted-quad tail for the last two.
 * It says `undefined` at the first character that no address can contain, so that a header
 * reader can refuse a field before it ends.
 */
export function scanIPv6(text: string): Scan {
  const head: number[] = [];
  let tail: number[] | undefined;
  let state: IPv6State = 'start';
  let groups = 0;
  let pieceStart = 0;
  let dotted = false;
  /** Groups the text may still hold: `::` stands for at least one. */
  const room = () => (tail === undefined ? 8 : 7);
  const push = (word: number) => (tail ?? head).push(word);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === COLON) {
      if (state === 'group') {
        if (dotted) return undefined;
        push(Number.parseInt(text.slice(pieceStart, i), 16));
        groups++;
        state = 'colon';
        // A single colon must be followed by one more group (or a `::`, worth one at least).
        if (groups >= room()) return undefined;
      } else if (state === 'start') {
        state = 'leadingColon';
      } else if ((state === 'leadingColon' || state === 'colon') && tail === undefined) {
        tail = [];
        state = 'double';
      } else {
        return undefined;
      }
    } else if (isHexDigit(c) || c === DOT) {
      if (state !== 'group') {
        if (state === 'leadingColon' || groups + 1 > room()) return undefined;
        state = 'group';
        pieceStart = i;
        dotted = false;
      }
      if (c === DOT && !dotted) {
        dotted = true;
        // The dotted quad is the last two groups: after six, or after `::` with room for two.
        if (tail === undefined ? groups !== 6 : groups + 2 > 7) return undefined;
      }
      if (dotted ? scanIPv4(text.slice(pieceStart, i + 1)) === undefined : i - pieceStart >= 4) {
        return undefined;
      }
    } else {
      return undefined;
    }
  }
  if (state === 'group') {
    if (dotted) {
      const quad = scanIPv4(text.slice(pieceStart));
      if (!(quad instanceof Uint8Array)) return 'partial';
      push((quad[0] << 8) | quad[1]);
      push((quad[2] << 8) | quad[3]);
      groups += 2;
    } else {
      push(Number.parseInt(text.slice(pieceStart), 16));
      groups++;
    }
  } else if (state !== 'double') {
    return 'partial';
  }
  if (tail === undefined && groups < 8) return 'partial';
  const words = [...head, ...new Array<number>(8 - groups).fill(0), ...(tail ?? [])];
  const bytes = new Uint8Array(16);
  words.forEach((word, k) => {
    bytes[2 * k] = word >> 8;
    bytes[2 * k + 1] = word & 0xff;
  });
  return bytes;
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** `a.b.c.d` of the four bytes from `offset`. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * The sixteen bytes from `offset` as Node prints a socket's IPv6 address (libuv's `inet_ntop`):
 * lower-case hex without leading zeros, the first longest run of two or more zero groups as `::`,
 * and a dotted-quad tail for `::a.b.c.d` and `::ffff:a.b.c.d`.
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let k = 0; k < 8; k++) words.push((bytes[offset + 2 * k] << 8) | bytes[offset + 2 * k + 1]);
  let bestBase = -1;
  let bestLength = 0;
  for (let k = 0; k < 8; ) {
    if (words[k] !== 0) {
      k++;
      continue;
    }
    let end = k;
    while (end < 8 && words[end] === 0) end++;
    if (end - k > bestLength) {
      bestBase = k;
      bestLength = end - k;
    }
    k = end;
  }
  if (bestLength < 2) bestBase = -1;
  let text = '';
  for (let k = 0; k < 8; k++) {
    if (bestBase !== -1 && k >= bestBase && k < bestBase + bestLength) {
      if (k === bestBase) text += ':';
      continue;
    }
    if (k !== 0) text += ':';
    if (k === 6 && bestBase === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
      return text + formatIPv4(bytes, offset + 12);
    }
    text += words[k].toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLength === 8) text += ':';
  return text;
}

/**
 * The sixteen bytes from `offset` as rx-tcp reports an IPv6 host: Node's text, an IPv4-mapped
 * address (`::ffff:a.b.c.d`) as the IPv4 address it is, as `Connection` reports a peer.
 */
export function ipv6Host(bytes: Uint8Array, offset = 0): string {
  for (let k = 0; k < 10; k++) if (bytes[offset + k] !== 0) return formatIPv6(bytes, offset);
  if (bytes[offset + 10] !== 0xff || bytes[offset + 11] !== 0xff) return formatIPv6(bytes, offset);
  return formatIPv4(bytes, offset + 12);
}
