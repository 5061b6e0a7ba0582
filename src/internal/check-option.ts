import { describe as quote } from './validate';

// Argument checks shared by the framing operators. A bad option is a programming error, so it is
// thrown at the call, synchronously, naming the operator, the option and the value given: a
// `TypeError` when the value has the wrong type, a `RangeError` when it has the right type but an
// unusable value. Values are quoted as the other entry points quote them (`describe`).

/** Throws unless `value` is an integer in `1..max`. */
export function checkPositiveInteger(caller: string, name: string, value: unknown, max: number): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${caller}: ${name} must be a positive integer, got ${quote(value)}`);
  }
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${caller}: ${name} must be an integer from 1 to ${max}, got ${quote(value)}`);
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
  const expected = allowed.map(quote).join(', ');
  const message = `${caller}: ${name} must be one of ${expected}, got ${quote(value)}`;
  throw typeof value === typeof allowed[0] ? new RangeError(message) : new TypeError(message);
}

/** Throws unless `value` is a boolean. */
export function checkBoolean(caller: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`${caller}: ${name} must be a boolean, got ${quote(value)}`);
  return value;
}

/** Throws unless `value` is a non-empty string or `Uint8Array`; returns its bytes as a private copy. */
export function checkDelimiter(caller: string, value: unknown): Buffer {
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value, 'utf8');
  // Copied so that a caller reusing its array cannot change the delimiter under a running decoder.
  else if (value instanceof Uint8Array) bytes = Buffer.from(value);
  else throw new TypeError(`${caller}: delimiter must be a string or a Uint8Array, got ${quote(value)}`);
  if (bytes.length === 0) throw new RangeError(`${caller}: delimiter must not be empty, got ${quote(value)}`);
  return bytes;
}
