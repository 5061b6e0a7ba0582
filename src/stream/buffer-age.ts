import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { BufferAgeLimitError } from '../errors';

/** How many of the waiting bytes a `BufferAgeLimitError` quotes. */
const QUOTED_BYTES = 32;

/** A chunk handed to the transport while it was backed up. */
interface Waiting {
  /** As bytes: the error quotes its first bytes, and counts them. */
  chunk: Uint8Array;
  /** Total bytes handed to the transport once this chunk was. */
  end: number;
  /** When it was handed over, by the scheduler's clock. */
  at: number;
}

/**
 * @internal A writer's `bufferAgeLimit`: the chunks handed to a backed-up transport, each with
 * when it was handed over, and one timer that fails the writer once the oldest of them has waited
 * for `limit` milliseconds without reaching the operating system.
 */
/** How long written bytes may wait unflushed: milliseconds, or `'unlimited'`. */
export type BufferAgeLimit = number | 'unlimited';

/** @internal What the age check needs of its writer: what is unsent, and how to fail it. */
export interface BufferAgeOwner {
  readonly bytesToWrite: number;
  timedOut(failure: BufferAgeLimitError): void;
}

export class BufferAge {
  /** Oldest first; only chunks not confirmed yet. */
  private waiting: Waiting[] | undefined;
  private check: Subscription | undefined;

  constructor(
    private readonly writer: BufferAgeOwner,
    private readonly limit: number,
    private readonly scheduler: SchedulerLike,
    /** Bytes handed over that the transport confirmed reached the OS. */
    private reached: number,
  ) {}

  /** `chunk`, whose last byte is the `end`th handed over, waits in the transport from now on. */
  waits(chunk: Uint8Array | string, end: number): void {
    this.waiting ??= [];
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.waiting.push({ chunk: bytes, end, at: this.scheduler.now() });
    this.check ??= this.scheduler.schedule(checkTask, this.limit, this);
  }

  /**
   * The first `reached` bytes handed over reached the OS: their chunks stop ageing now, not at the
   * next check, or a socket that always holds a little (TLS) would keep every chunk until then.
   */
  confirmed(reached: number): void {
    this.reached = reached;
    this.dropReached();
  }

  /** Nothing can age any more: the writer ended, or the peer left with nothing lost. */
  stop(): void {
    this.check?.unsubscribe();
    this.check = undefined;
    this.waiting = undefined;
  }

  /** @internal The timer: fails the writer if the oldest chunk waiting was handed over `limit` ago. */
  checkAge(): void {
    this.check = undefined;
    this.dropReached();
    const { waiting } = this;
    if (waiting === undefined) return;
    const oldest = waiting[0];
    const age = this.scheduler.now() - oldest.at;
    if (age < this.limit) {
      this.check = this.scheduler.schedule(checkTask, this.limit - age, this);
      return;
    }
    const unflushedOfOldest = oldest.end - this.reached;
    const first = oldest.chunk.subarray(oldest.chunk.byteLength - unflushedOfOldest);
    const quoted = Buffer.from(first.subarray(0, QUOTED_BYTES));
    this.writer.timedOut(new BufferAgeLimitError(this.limit, this.writer.bytesToWrite, quoted));
  }

  /** Forgets the chunks that reached the OS. */
  private dropReached(): void {
    const { waiting, reached } = this;
    if (waiting === undefined) return;
    while (waiting.length > 0 && waiting[0].end <= reached) waiting.shift();
    if (waiting.length === 0) this.waiting = undefined;
  }
}

// The scheduler task gets the check as its state, so that a writer needs no closure of its own.
function checkTask(this: SchedulerAction<BufferAge>, age?: BufferAge): void {
  age!.checkAge();
}
