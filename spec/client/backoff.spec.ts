import fc from 'fast-check';
import { Backoff, DEFAULT_RETRY } from '../../src/client/backoff';

const waits = (backoff: Backoff, count: number) =>
  Array.from({ length: count }, (_, i) => backoff.wait(i + 1));

describe('Backoff', () => {
  it('defaults to 100 ms, doubling, capped at 30 s, with jitter, without a bound on attempts', () => {
    expect(DEFAULT_RETRY).toEqual({
      initialDelay: 100,
      maxDelay: 30_000,
      factor: 2,
      jitter: true,
      maxAttempts: Number.POSITIVE_INFINITY,
    });
    const backoff = new Backoff('test');
    expect([
      backoff.initialDelay,
      backoff.maxDelay,
      backoff.factor,
      backoff.jitter,
      backoff.maxAttempts,
    ]).toEqual([100, 30_000, 2, true, Number.POSITIVE_INFINITY]);
    expect(Array.from({ length: 12 }, (_, i) => backoff.delay(i + 1))).toEqual([
      100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000,
    ]);
  });

  it('takes the defaults for what a partial object leaves out', () => {
    const backoff = new Backoff('test', { initialDelay: 10, jitter: false });
    expect(waits(backoff, 4)).toEqual([10, 20, 40, 80]);
    expect(backoff.maxDelay).toBe(30_000);
  });

  it('waits the same each time with factor 1, and never with initialDelay 0', () => {
    expect(waits(new Backoff('test', { initialDelay: 7, factor: 1, jitter: false }), 3)).toEqual([7, 7, 7]);
    expect(waits(new Backoff('test', { initialDelay: 0, jitter: false }), 3)).toEqual([0, 0, 0]);
  });

  it('caps even the first wait, and stays capped however many waits come', () => {
    const backoff = new Backoff('test', { initialDelay: 500, maxDelay: 300, factor: 10, jitter: false });
    expect([backoff.wait(1), backoff.wait(2), backoff.wait(5000)]).toEqual([300, 300, 300]);
  });

  it('draws each wait with jitter uniformly from [delay/2, delay]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (initialDelay, maxDelay, factor, n, r) => {
          const backoff = new Backoff('test', { initialDelay, maxDelay, factor, random: () => r });
          const delay = backoff.delay(n);
          const wait = backoff.wait(n);
          expect(delay).toBeLessThanOrEqual(maxDelay);
          expect(wait).toBeGreaterThanOrEqual(delay / 2);
          expect(wait).toBeLessThanOrEqual(delay);
          expect(wait).toBeCloseTo(delay / 2 + (r * delay) / 2, 6);
        },
      ),
    );
  });

  it('keeps a wait within its bounds when the random source strays outside [0, 1)', () => {
    for (const [r, wait] of [
      [-3, 50],
      [7, 100],
      [Number.NaN, 50],
    ]) {
      expect(new Backoff('test', { random: () => r }).wait(1)).toBe(wait);
    }
  });

  it('calls the random source once per wait with jitter, never without', () => {
    const random = jest.fn(() => 0.5);
    waits(new Backoff('test', { random }), 3);
    expect(random).toHaveBeenCalledTimes(3);
    waits(new Backoff('test', { random, jitter: false }), 3);
    expect(random).toHaveBeenCalledTimes(3);
  });

  it.each([
    [{ maxAttempts: 2.5 }, RangeError, 'retry.maxAttempts must be a positive integer or Infinity, got 2.5'],
    [{ factor: Infinity }, RangeError, 'retry.factor must be a finite number >= 1, got Infinity'],
    [{ factor: '2' }, TypeError, 'retry.factor must be a finite number >= 1, got "2"'],
    [
      { maxDelay: 2 ** 31 },
      RangeError,
      'retry.maxDelay must be a number from 0 to 2147483647, got 2147483648',
    ],
    [{ initialDelay: Number.NaN }, TypeError, 'retry.initialDelay must be a number, got NaN'],
  ])('throws on %j, naming the caller', (retry, type, message) => {
    expect(() => new Backoff('caller', retry as never)).toThrow(new type(`caller: ${message}`));
  });
});
