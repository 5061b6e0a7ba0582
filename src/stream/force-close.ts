import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { ConnectionAbortedError } from '../errors';
import { checkTimerDelay } from '../validate';

/** How long a close waits for the writer to flush before it forces the connection closed: 30 s, as in Async. */
export const CLOSE_FORCE_AFTER = 30_000;

/** The close options of `withConnection` and a server's closes: one object, not one per close. */
export const CLOSE_AFTER_USE: WriterCloseOptions = Object.freeze({ forceCloseAfter: CLOSE_FORCE_AFTER });

/** Options of `Writer.close`. */
export interface WriterCloseOptions {
  /**
   * If flushing and sending FIN take longer than this many milliseconds, the connection is closed
   * at once and the unflushed bytes are dropped. `'never'` waits for ever. Default `30_000`.
   */
  forceCloseAfter?: number | 'never';
}

/** @internal `options.forceCloseAfter`, with its default; throws if it is out of range. */
export function forceCloseAfter(options: WriterCloseOptions): number | 'never' {
  const { forceCloseAfter = CLOSE_FORCE_AFTER } = options;
  if (forceCloseAfter !== 'never' && !(typeof forceCloseAfter === 'number' && forceCloseAfter >= 0)) {
    throw new RangeError(
      `close: forceCloseAfter must be a number >= 0 or 'never', got ${String(forceCloseAfter)}`,
    );
  }
  if (forceCloseAfter !== 'never') checkTimerDelay('close', 'forceCloseAfter', forceCloseAfter);
  return forceCloseAfter;
}

/**
 * @internal The bound on a closing writer: one timer that force-closes it, brought forward by a
 * later close with a shorter bound. Made at the first close that needs one.
 */
/** @internal What the force-close timer needs of its writer: what is unsent, and how to fail it. */
export interface ForceCloseOwner {
  readonly bytesToWrite: number;
  timedOut(failure: ConnectionAbortedError): void;
}

export class ForceClose {
  private timer: Subscription | undefined;
  /** When `timer` is due, by the scheduler's clock. */
  private at = 0;

  constructor(
    private readonly writer: ForceCloseOwner,
    private readonly scheduler: SchedulerLike,
  ) {}

  /** Force-closes the writer `after` milliseconds from now, unless an earlier bound will. */
  bound(after: number): void {
    const at = this.scheduler.now() + after;
    if (this.timer !== undefined && this.at <= at) return;
    this.timer?.unsubscribe();
    this.at = at;
    this.timer = this.scheduler.schedule(forceCloseTask, after, this);
  }

  stop(): void {
    this.timer?.unsubscribe();
    this.timer = undefined;
  }

  /** @internal The close took longer than `forceCloseAfter`: tear the connection down. */
  expired(): void {
    this.timer = undefined;
    const unsent = this.writer.bytesToWrite;
    this.writer.timedOut(
      new ConnectionAbortedError(undefined, `the writer was force-closed with ${unsent} bytes unsent`),
    );
  }
}

// The scheduler task gets the bound as its state, so that a writer needs no closure of its own.
function forceCloseTask(this: SchedulerAction<ForceClose>, bound?: ForceClose): void {
  bound!.expired();
}
