import { checkBoolean, checkPositiveLimit, describe, MAX_TIMER_DELAY } from '../validate';

/** The `retry` option of `persistentConnection`: when to try again after an attempt failed. */
export interface RetryOptions {
  /** Milliseconds to wait after the first failed attempt, and after a connection ended. Default `100`. */
  initialDelay?: number;
  /** The longest wait, in milliseconds; at most 2 147 483 647 (a timer's limit). Default `30_000`. */
  maxDelay?: number;
  /** Each wait after a further failed attempt is `factor` times the one before; at least 1. Default `2`. */
  factor?: number;
  /**
   * Draw each wait uniformly from [delay/2, delay] rather than waiting `delay`: clients that lost
   * their server together do not all come back at the same moment. Default `true`.
   */
  jitter?: boolean;
  /**
   * How many attempts in a row may fail; the Observable errors at once with the last one's error.
   * An integer >= 1, or `Infinity`. Default `Infinity`.
   */
  maxAttempts?: number;
  /**
   * The jitter's random source, returning a number in [0, 1): give a seeded one to make the
   * waits reproducible in a test. Default `Math.random`.
   */
  random?: () => number;
}

/** The defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY: Readonly<Required<Omit<RetryOptions, 'random'>>> = Object.freeze({
  initialDelay: 100,
  maxDelay: 30_000,
  factor: 2,
  jitter: true,
  maxAttempts: Number.POSITIVE_INFINITY,
});

/**
 * @internal The waits between attempts, from checked {@link RetryOptions}. Pure but for `random`.
 */
export class Backoff {
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly factor: number;
  readonly jitter: boolean;
  readonly maxAttempts: number;
  private readonly random: () => number;

  /** Applies the defaults to `retry` and checks it; throws a `TypeError` or `RangeError` naming `caller`. */
  constructor(caller: string, retry: RetryOptions = {}) {
    if (retry === null || typeof retry !== 'object') {
      throw new TypeError(`${caller}: retry must be an object, got ${describe(retry)}`);
    }
    const {
      initialDelay = DEFAULT_RETRY.initialDelay,
      maxDelay = DEFAULT_RETRY.maxDelay,
      factor = DEFAULT_RETRY.factor,
      jitter = DEFAULT_RETRY.jitter,
      maxAttempts = DEFAULT_RETRY.maxAttempts,
      random = Math.random,
    } = retry;
    this.initialDelay = checkDelay(caller, 'retry.initialDelay', initialDelay);
    this.maxDelay = checkDelay(caller, 'retry.maxDelay', maxDelay);
    if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
      const message = `${caller}: retry.factor must be a finite number >= 1, got ${describe(factor)}`;
      throw typeof factor === 'number' ? new RangeError(message) : new TypeError(message);
    }
    this.factor = factor;
    this.jitter = checkBoolean(caller, 'retry.jitter', jitter);
    this.maxAttempts = checkPositiveLimit(caller, 'retry.maxAttempts', maxAttempts);
    if (typeof random !== 'function') {
      throw new TypeError(`${caller}: retry.random must be a function, got ${describe(random)}`);
    }
    this.random = random;
  }

  /**
   * The delay of the `n`th wait of a run (`n` >= 1): `initialDelay`, then `factor` times the one
   * before, capped at `maxDelay`. Before jitter.
   */
  delay(n: number): number {
    if (this.initialDelay === 0) return 0;
    // Infinity past a double's range, and capped as well.
    return Math.min(this.initialDelay * this.factor ** (n - 1), this.maxDelay);
  }

  /**
   * The `n`th wait of a run: {@link delay}, or with `jitter` a number drawn uniformly from
   * [delay/2, delay]. Calls `random`, which may throw.
   */
  wait(n: number): number {
    const delay = this.delay(n);
    if (!this.jitter) return delay;
    const r = this.random();
    // A source outside [0, 1] (or NaN) is the caller's bug; the wait still stays within its bounds.
    const within = r > 0 ? Math.min(r, 1) : 0;
    return delay / 2 + within * (delay / 2);
  }
}

function checkDelay(caller: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`${caller}: ${name} must be a number, got ${describe(value)}`);
  }
  if (!(value >= 0 && value <= MAX_TIMER_DELAY)) {
    throw new RangeError(`${caller}: ${name} must be a number from 0 to ${MAX_TIMER_DELAY}, got ${value}`);
  }
  return value;
}
