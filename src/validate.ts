import { isIP } from 'node:net';
import { MAX_UNIX_PATH_BYTES } from './address';

// Argument checks shared by every public entry point: each throws at the call, synchronously,
// quoting the bad value.

/** Throws unless `port` is an integer in `min`..65535. */
export function checkPort(caller: string, port: unknown, min = 1): number {
  if (typeof port !== 'number')
    throw new TypeError(`${caller}: port must be a number, got ${describe(port)}`);
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw new RangeError(`${caller}: port must be an integer in ${min}..65535, got ${port}`);
  }
  return port;
}

/** Throws unless `host` is a non-empty string. */
export function checkHost(caller: string, host: unknown): string {
  if (typeof host !== 'string')
    throw new TypeError(`${caller}: host must be a string, got ${describe(host)}`);
  if (host.length === 0) throw new RangeError(`${caller}: host must not be empty, got ""`);
  return host;
}

/** Throws unless `host` is an IPv4 or IPv6 literal. */
export function checkIpLiteral(caller: string, what: string, host: unknown): string {
  if (typeof host !== 'string' || isIP(host) === 0) {
    throw new TypeError(`${caller}: ${what} must be an IPv4 or IPv6 address literal, got ${describe(host)}`);
  }
  return host;
}

/** Throws unless `path` is a non-empty string that fits a Unix socket address. */
export function checkUnixPath(caller: string, path: unknown): string {
  if (typeof path !== 'string')
    throw new TypeError(`${caller}: path must be a string, got ${describe(path)}`);
  if (path.length === 0) throw new RangeError(`${caller}: path must not be empty, got ""`);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new RangeError(
      `${caller}: path is ${bytes} bytes, longer than the ${MAX_UNIX_PATH_BYTES} a Unix socket allows: ${JSON.stringify(path)}`,
    );
  }
  return path;
}

/** A short, quoted rendering of a bad argument for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The longest delay a Node timer keeps: past it, Node fires after 1 ms instead. */
export const MAX_TIMER_DELAY = 2_147_483_647;

/**
 * Throws unless `value` is a number of milliseconds from `min` to {@link MAX_TIMER_DELAY}: every
 * delay rx-tcp hands to a scheduler (a longer one would fire at once). An option where `Infinity`
 * means "never" skips this check for it.
 */
export function checkTimerDelay(caller: string, name: string, value: unknown, min = 0): number {
  checkNumber(caller, name, value, min);
  if ((value as number) > MAX_TIMER_DELAY) {
    throw new RangeError(`${caller}: ${name} must be at most ${MAX_TIMER_DELAY} ms, got ${value}`);
  }
  return value as number;
}

/** Throws unless `value` is a number >= `min`. */
export function checkNumber(caller: string, name: string, value: unknown, min = 0, integer = false): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`${caller}: ${name} must be a number, got ${describe(value)}`);
  }
  if (value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `${caller}: ${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${value}`,
    );
  }
  return value;
}

/** Throws unless `value` is an integer in `1..max`. */
export function checkPositiveInteger(caller: string, name: string, value: unknown, max: number): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${caller}: ${name} must be a positive integer, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${caller}: ${name} must be an integer from 1 to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is one of `allowed`. */
export function checkOneOf<T extends string | number>(
  caller: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (allowed.includes(value as T)) return value as T;
  const expected = allowed.map(describe).join(', ');
  const message = `${caller}: ${name} must be one of ${expected}, got ${describe(value)}`;
  throw typeof value === typeof allowed[0] ? new RangeError(message) : new TypeError(message);
}

/** Throws unless `value` is a boolean. */
export function checkBoolean(caller: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`${caller}: ${name} must be a boolean, got ${describe(value)}`);
  return value;
}

/** Throws unless `value` is a non-empty string or `Uint8Array`; returns its bytes as a private copy. */
export function checkDelimiter(caller: string, value: unknown): Buffer {
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value, 'utf8');
  // Copied so that a caller reusing its array cannot change the delimiter under a running decoder.
  else if (value instanceof Uint8Array) bytes = Buffer.from(value);
  else throw new TypeError(`${caller}: delimiter must be a string or a Uint8Array, got ${describe(value)}`);
  if (bytes.length === 0)
    throw new RangeError(`${caller}: delimiter must not be empty, got ${describe(value)}`);
  return bytes;
}

/** Throws a `RangeError` unless `value` is an integer >= 1, of any size. */
export function checkPositiveCount(caller: string, name: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new RangeError(`${caller}: ${name} must be a positive integer, got ${value}`);
  }
  return value as number;
}

/** Throws a `RangeError` unless `value` is an integer >= 1 or `Infinity`. */
export function checkPositiveLimit(caller: string, name: string, value: unknown): number {
  if (!((value as number) > 0) || (value !== Number.POSITIVE_INFINITY && !Number.isInteger(value))) {
    throw new RangeError(`${caller}: ${name} must be a positive integer or Infinity, got ${value}`);
  }
  return value as number;
}
