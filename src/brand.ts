/**
 * @internal Whether `value` carries `brand` (a `Symbol.for` key set to `true`). Public classes that
 * rx-tcp checks with `instanceof` are branded, so that instances made by another copy of rx-tcp in
 * the same process (the CommonJS and the ESM build, side by side) still pass.
 */
export function isBranded(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}
