import * as fs from 'node:fs';
import * as net from 'node:net';
import * as vm from 'node:vm';
import fc from 'fast-check';
import {
  BufferAgeLimitError,
  ConcurrentReadError,
  type Connection,
  ConnectionAbortedError,
  ConsumerLeftError,
  EOF,
  type Handler,
  type InetAddress,
  ReaderClosedError,
  Server,
  type ServerEvent,
  type ServerOptions,
  type ShortRead,
  WriterClosedError,
  type WriterCloseOptions,
  type WriterState,
} from 'rx-tcp';
import { connectionPair } from 'rx-tcp/testing';
import {
  config,
  defer,
  firstValueFrom,
  lastValueFrom,
  type Observable,
  type Subscription,
  tap,
  VirtualTimeScheduler,
} from 'rxjs';
import { listenerCounts, waitFor } from '../helpers/net';
import { loopback } from '../helpers/servers';

// Issue 17: a randomized fault model. fast-check draws interleavings of writes, flush waits,
// closes, transfers, FINs, resets, readers that stop, timers and unsubscribes, first over the
// in-memory pair in virtual time (many runs, deterministic), then over loopback sockets against a
// real server and raw clients; after every run it checks what SPEC promises ("Reader", "Writer":
// "One life, one ending", "Listening"). Replay a failure with RXTCP_FC_SEED and RXTCP_FC_PATH;
// RXTCP_FC_MEMORY_RUNS, RXTCP_FC_LOOPBACK_RUNS and RXTCP_FC_TIME_LIMIT (ms per suite) scale the
// search; RXTCP_FC_STATS=1 prints what the runs exercised. What it found is kept at the end.

const env = process.env;
const MEMORY_RUNS = Number(env.RXTCP_FC_MEMORY_RUNS ?? 1000);
const LOOPBACK_RUNS = Number(env.RXTCP_FC_LOOPBACK_RUNS ?? 60);
/** A safety net: each suite stops drawing new runs after this long (not a failure). */
const TIME_LIMIT = Number(env.RXTCP_FC_TIME_LIMIT ?? 20_000);
/**
 * The one known gap this model finds, not fixed yet (see `unreadInput` below), is tolerated by the
 * loopback runs unless RXTCP_FC_STRICT=1, so that they go on finding others.
 */
const STRICT = env.RXTCP_FC_STRICT === '1';
/**
 * Replays what fast-check prints with a counterexample: RXTCP_FC_SEED and RXTCP_FC_PATH ("seed",
 * "path"), and for the in-memory runs RXTCP_FC_REPLAY_PATH (the commands' "replayPath").
 */
const REPLAY =
  env.RXTCP_FC_SEED === undefined
    ? {}
    : { seed: Number(env.RXTCP_FC_SEED), path: env.RXTCP_FC_PATH, endOnFailure: true };
const COMMANDS_REPLAY =
  env.RXTCP_FC_REPLAY_PATH === undefined ? {} : { replayPath: env.RXTCP_FC_REPLAY_PATH };

// ---------------------------------------------------------------------------------------------
// What escapes: uncaught exceptions, unhandled rejections, RxJS's unhandled errors, and values or
// errors delivered to a subscriber that has stopped.

const escaped: string[] = [];
const describeError = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error);
const onUncaught = (error: unknown) => escaped.push(`uncaughtException ${describeError(error)}`);
const onRejection = (error: unknown) => escaped.push(`unhandledRejection ${describeError(error)}`);
// Jest's `process` is a copy whose events never fire: listen on the real one.
const realProcess = vm.runInThisContext('process') as NodeJS.Process;
let savedRxConfig: Pick<typeof config, 'onUnhandledError' | 'onStoppedNotification'>;

beforeAll(() => {
  realProcess.prependListener('uncaughtException', onUncaught);
  realProcess.prependListener('unhandledRejection', onRejection);
  savedRxConfig = {
    onUnhandledError: config.onUnhandledError,
    onStoppedNotification: config.onStoppedNotification,
  };
  config.onUnhandledError = (error) => escaped.push(`rxjs unhandled error ${describeError(error)}`);
  // A complete after an unsubscribe is RxJS's everyday (firstValueFrom(of(1)) makes one); a value
  // or an error delivered to a subscriber that stopped is lost.
  config.onStoppedNotification = (notification) => {
    if (notification.kind !== 'C')
      escaped.push(`rxjs ${notification.kind} notification to a stopped subscriber`);
  };
});

afterAll(() => {
  realProcess.off('uncaughtException', onUncaught);
  realProcess.off('unhandledRejection', onRejection);
  config.onUnhandledError = savedRxConfig.onUnhandledError;
  config.onStoppedNotification = savedRxConfig.onStoppedNotification;
});

/** Throws (failing the run) with whatever escaped since the last call. */
function noEscapes(): void {
  if (escaped.length > 0) throw new Error(`escaped:\n${escaped.splice(0).join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Byte streams that show a reorder, a duplicate or a substitution: stream s is a pseudo-random
// table read from its own starting point, so no stretch of a stream looks like another stretch
// (the table repeats every PERIOD bytes, more than any run writes to one stream in one place).

const PERIOD = (1 << 20) + 9;
const TABLE = (() => {
  const table = Buffer.allocUnsafe(PERIOD);
  let x = 0x2545f491;
  for (let i = 0; i < PERIOD; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x & 0xff;
  }
  return table;
})();
/** The same table as printable ASCII, no newline: usable as a string write and inside a line. */
const TEXT_TABLE = Buffer.from(TABLE.map((byte) => 0x21 + (byte % 94)));

/** `n` bytes of `table` from stream `stream`'s position `offset`. */
function slice(table: Buffer, stream: number, offset: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let at = (offset + stream * 262_147) % PERIOD;
  for (let done = 0; done < n; ) {
    const take = Math.min(n - done, PERIOD - at);
    table.copy(out, done, at, at + take);
    done += take;
    at = 0;
  }
  return out;
}

function patternBytes(stream: number, offset: number, n: number): Buffer {
  return slice(TABLE, stream, offset, n);
}

function patternText(stream: number, offset: number, n: number): string {
  return slice(TEXT_TABLE, stream, offset, n).toString('latin1');
}

/** Chunks appended in order, read back as one Buffer. */
class ByteLog {
  private chunks: Buffer[] = [];
  length = 0;

  push(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk));
    this.length += chunk.byteLength;
  }

  bytes(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }
}

/** Why `received` is not a prefix of `written`, or undefined if it is. */
function notAPrefix(received: Buffer, written: Buffer): string | undefined {
  if (received.length > written.length) {
    return `received ${received.length} bytes, more than the ${written.length} written`;
  }
  if (received.equals(written.subarray(0, received.length))) return undefined;
  let i = 0;
  while (received[i] === written[i]) i++;
  return `byte ${i} of ${received.length} received differs from what was written (reordered, duplicated or corrupted)`;
}

// ---------------------------------------------------------------------------------------------
// Observables obtained during a run, each followed to its end.

interface Tracked {
  what: string;
  state: 'pending' | 'done' | 'error';
  error?: unknown;
  subscription?: Subscription;
  /** Unsubscribed on purpose: need not settle. */
  dropped: boolean;
}

function follow(
  what: string,
  source: Observable<unknown>,
  next?: (value: unknown) => void,
  onError?: (error: unknown) => void,
): Tracked {
  const tracked: Tracked = { what, state: 'pending', dropped: false };
  tracked.subscription = source.subscribe({
    next: (value) => next?.(value),
    error: (error) => {
      tracked.state = 'error';
      tracked.error = error;
      onError?.(error);
    },
    complete: () => {
      tracked.state = 'done';
    },
  });
  return tracked;
}

const pending = (tracked: Tracked | undefined) =>
  tracked !== undefined && tracked.state === 'pending' && !tracked.dropped;

// ---------------------------------------------------------------------------------------------
// Suite 1: two in-memory pairs, a<->b and c<->d, in virtual time. b's reader may be proxied into
// c's writer and c's into b's, and d and b may echo: a chain a -> b -> c -> d -> c -> b -> a with
// no cycle, so that once every reader reads, every byte can move.

const NAMES = ['a', 'b', 'c', 'd'] as const;
const PEER = [1, 0, 3, 2];
/** Transfers a run may start: [reader of, writer of]. */
const ROUTES: readonly (readonly [number, number])[] = [
  [1, 2],
  [2, 1],
  [3, 3],
  [1, 1],
];
/** Writes at least this long pass through the writer uncopied (writer.ts LARGE_WRITE). */
const LARGE_WRITE = 16 * 1024;
/**
 * The states a writer may be in later, from each state ("One life, one ending": open, then gone or
 * closing, then closed or failed). Sampled between steps, so several transitions may lie between.
 */
const LATER: Record<WriterState, readonly WriterState[]> = {
  open: ['gone', 'closing', 'closed', 'failed'],
  gone: ['closed', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};
const LONG = 600_000;

interface MemoryOptions {
  windowSize: number;
  readerBufferSize: number;
  bufferAgeLimit: number | 'unlimited';
  /** closeFinished and consumerLeft subscribed from the start, else made when first asked for. */
  watchEarly: boolean;
  /** forceCloseAfter of the closes that end the run. */
  endForce: number;
}

type ConsumerKind = 'push' | 'pull' | 'transfer' | 'drain';

/** One of the four connections, and what the run knows about it. */
class End {
  /** What its writer accepted (returned from write without throwing), in order. */
  readonly written = new ByteLog();
  /** What its reader handed to any consumer, in order. */
  readonly received = new ByteLog();
  /** Offset in this end's own pattern for the next direct write. */
  directOffset = 0;
  /** The caller closed the writer (close, complete, error, connection.close): write throws. */
  callerClosed = false;
  /** This side chose to stop reading (reader.close, connection.close, destroy, writer.error). */
  stoppedReading = false;
  /** This side tore its connection down (destroy, writer.error, a close with forceCloseAfter). */
  tornDown = false;
  /** `tornDown` before the closes that end the run (for the statistics). */
  tornDownByCommands = false;
  /** A consumer of this reader got an error from it (a reset, a teardown). */
  readerErrors: unknown[] = [];
  consumer: (Tracked & { kind: ConsumerKind; into?: number }) | undefined;
  finished: Tracked | undefined;
  left: Tracked | undefined;
  closeResult: Observable<void> | undefined;
  connectionCloseResult: Observable<void> | undefined;
  readonly connectionCloses: Tracked[] = [];
  lastState: WriterState = 'open';
  lastWritten = 0;
  lastLost = 0;
  /** Steps to take inside the next delivery of a chunk to one of this reader's consumers. */
  readonly onChunk: Step[] = [];

  constructor(
    readonly world: MemoryWorld,
    readonly index: number,
    readonly connection: Connection,
  ) {}

  get name(): string {
    return NAMES[this.index];
  }

  get peer(): End {
    return this.world.ends[PEER[this.index]];
  }

  /** Follows closeFinished and consumerLeft (making them, if they were not yet). */
  watch(): void {
    const { writer } = this.connection;
    this.finished ??= this.world.follow(`${this.name}.writer.closeFinished`, writer.closeFinished);
    this.left ??= this.world.follow(`${this.name}.writer.consumerLeft`, writer.consumerLeft);
  }

  consuming(): boolean {
    return pending(this.consumer);
  }

  /** A read error as this reader's own failure, unless it only refused a second consumer. */
  readerError(error: unknown): void {
    if (error instanceof ConcurrentReadError || error instanceof ReaderClosedError) return;
    this.readerErrors.push(error);
    // "A peer reset is reported as a reset ... never as ConnectionAbortedError".
    if (error instanceof ConnectionAbortedError && !this.tornDown) {
      this.world.problem(
        `${this.name}.reader failed with ConnectionAbortedError though this side tore nothing down`,
      );
    }
  }

  /** The writer just failed: the failure names who caused it. */
  writerFailed(failure: unknown): void {
    const where = `${this.name}.writer`;
    if (failure instanceof ConnectionAbortedError && !this.tornDown) {
      this.world.problem(`${where} failed with ConnectionAbortedError though this side tore nothing down`);
    }
    if (failure instanceof BufferAgeLimitError && this.world.options.bufferAgeLimit === 'unlimited') {
      this.world.problem(`${where} failed on a buffer age it has no limit for`);
    }
    if (failure instanceof ConsumerLeftError && !this.tornDown) {
      const code = (failure.cause as { code?: unknown } | undefined)?.code;
      if (code !== 'ECONNRESET' && code !== 'EPIPE') {
        this.world.problem(
          `${where} failed with a ConsumerLeftError whose cause is not a reset: ${String(failure.cause)}`,
        );
      }
    }
  }

  /** The error a new consumer must get at once: another is reading, or the reader is closed. */
  refusal(): typeof ConcurrentReadError | typeof ReaderClosedError | undefined {
    if (this.consuming()) return ConcurrentReadError;
    if (this.connection.reader.isClosed) return ReaderClosedError;
    return undefined;
  }

  /** Starts a consumer, checking it is refused exactly when another reads or the reader is closed. */
  consume(
    kind: ConsumerKind,
    what: string,
    source: Observable<unknown>,
    next: (value: unknown) => void,
    into?: number,
  ): Tracked {
    const refusal = this.refusal();
    // A transfer's error may be its writer's: the reader's own failure is seen by the next read.
    const onError = kind === 'transfer' ? undefined : (error: unknown) => this.readerError(error);
    const tracked = Object.assign(this.world.follow(what, source, next, onError), { kind, into });
    if (refusal !== undefined) {
      if (!(tracked.state === 'error' && tracked.error instanceof refusal)) {
        throw new Error(`${what} should have failed at once with ${refusal.name}, got ${tracked.state}`);
      }
      return tracked;
    }
    this.consumer = tracked;
    return tracked;
  }

  /** A push subscription that records every chunk. */
  drain(kind: 'push' | 'drain'): void {
    this.consume(kind, `${this.name}.reader.subscribe() (${kind})`, this.connection.reader, (chunk) =>
      this.got(chunk as Buffer),
    );
  }

  /** A chunk handed to one of our consumers: recorded, then the next reaction to a chunk runs. */
  got(chunk: Buffer): void {
    this.received.push(chunk);
    const step = this.onChunk.shift();
    if (step !== undefined) this.world.react(step);
  }

  /** The reader has nothing more to give: a subscription to it ended (at EOF, or with its failure). */
  get readerEnded(): boolean {
    const consumer = this.consumer;
    return (
      consumer !== undefined &&
      (consumer.kind === 'push' || consumer.kind === 'drain') &&
      !consumer.dropped &&
      consumer.state !== 'pending'
    );
  }
}

class MemoryWorld {
  readonly scheduler = new VirtualTimeScheduler();
  readonly ends: End[];
  readonly tracked: Tracked[] = [];
  /** Transfers whose f threw: each must have errored with what f threw ("errors when f throws"). */
  readonly fThrew: (() => Tracked | undefined)[] = [];
  private readonly problems: string[] = [];

  constructor(readonly options: MemoryOptions) {
    const { windowSize, readerBufferSize, bufferAgeLimit } = options;
    const pairOptions = { scheduler: this.scheduler, windowSize, readerBufferSize, bufferAgeLimit };
    const connections = [...connectionPair(pairOptions), ...connectionPair(pairOptions)];
    this.ends = connections.map((connection, i) => new End(this, i, connection));
    for (const end of this.ends) {
      this.follow(`${end.name}.closed`, end.connection.closed);
      if (options.watchEarly) end.watch();
    }
  }

  follow(
    what: string,
    source: Observable<unknown>,
    next?: (value: unknown) => void,
    onError?: (error: unknown) => void,
  ): Tracked {
    const tracked = follow(what, source, next, onError);
    this.tracked.push(tracked);
    return tracked;
  }

  /** Runs what is due up to `frame`, then sets the clock there. */
  runTo(frame: number): void {
    const { scheduler } = this;
    scheduler.maxFrames = frame;
    try {
      scheduler.flush();
    } catch (error) {
      // A task that throws is what a socket event throwing into Node's event loop would be.
      escaped.push(`thrown from a scheduled task: ${describeError(error)}`);
    }
    if (scheduler.frame < frame) scheduler.frame = frame;
  }

  runFor(ms: number): void {
    this.runTo(this.scheduler.now() + ms);
  }

  /** True if some task is due now. */
  busy(): boolean {
    const now = this.scheduler.now();
    return this.scheduler.actions.some((action) => (action as unknown as { delay: number }).delay <= now);
  }

  /** True while a step runs inside a callback of the library. */
  reacting = false;

  /** Runs `step` inside a callback, as user code does: what it breaks is reported, never thrown into the library. */
  react(step: Step): void {
    const outer = this.reacting;
    this.reacting = true;
    try {
      step.apply(this);
    } catch (error) {
      this.problem(`${step} inside a callback: ${describeError(error)}`);
    } finally {
      this.reacting = outer;
    }
  }

  /** A broken promise seen inside a callback: reported by the next check, not thrown into the library. */
  problem(what: string): void {
    this.problems.push(what);
  }

  /** What must hold between any two steps. */
  check(): void {
    noEscapes();
    if (this.problems.length > 0) throw new Error(this.problems.join('\n'));
    for (const transferOf of this.fThrew) {
      const transfer = transferOf();
      if (transfer === undefined || transfer.error !== FAILING_F) {
        throw new Error(`a transfer whose f threw ended ${transfer?.state}: ${String(transfer?.error)}`);
      }
    }
    for (const end of this.ends) {
      const { writer, reader } = end.connection;
      const { state, bytesWritten, bytesLost } = writer;
      const where = `${end.name}.writer`;
      if (state !== end.lastState && !LATER[end.lastState].includes(state)) {
        throw new Error(`${where} went from ${end.lastState} to ${state}`);
      }
      if (state === 'failed' && end.lastState !== 'failed') end.writerFailed(failureOf(writer.closeFinished));
      end.lastState = state;
      if (bytesWritten !== end.written.length) {
        throw new Error(
          `${where}.bytesWritten is ${bytesWritten}, but ${end.written.length} bytes were written`,
        );
      }
      if (bytesWritten < end.lastWritten || bytesLost < end.lastLost || bytesLost > bytesWritten) {
        throw new Error(`${where}: bytesWritten ${bytesWritten}, bytesLost ${bytesLost} went wrong`);
      }
      end.lastWritten = bytesWritten;
      end.lastLost = bytesLost;
      const terminal = state === 'closed' || state === 'failed';
      if (terminal && writer.bytesToWrite !== 0) throw new Error(`${where} is ${state} with bytes to write`);
      if (writer.isClosed !== (state !== 'open' && state !== 'gone')) {
        throw new Error(`${where}.isClosed is ${writer.isClosed} in state ${state}`);
      }
      const { finished, left } = end;
      if (finished !== undefined) {
        const expected = state === 'closed' ? 'done' : state === 'failed' ? 'error' : 'pending';
        if (finished.state !== expected) {
          throw new Error(`${where}.closeFinished is ${finished.state} in state ${state}`);
        }
        if (finished.error instanceof ConsumerLeftError && left !== undefined && left.state === 'pending') {
          throw new Error(`${where} failed with ConsumerLeftError but consumerLeft did not emit`);
        }
      }
      const consumer = end.consumer;
      if (pending(consumer)) {
        if (consumer!.kind === 'transfer') {
          // "completes when the writer is closed (by anyone), errors when the writer fails".
          const into = this.ends[consumer!.into!].connection.writer;
          if (into.state !== 'open')
            throw new Error(`${consumer!.what} still runs into a ${into.state} writer`);
        } else if (reader.isClosed) {
          throw new Error(`${consumer!.what} still runs on a closed reader`);
        }
      }
    }
  }

  /** Every reader consumed until nothing more moves. */
  drainAll(): void {
    for (let round = 0; round < 10_000; round++) {
      let started = false;
      for (const end of this.ends) {
        if (!end.connection.reader.isClosed && !end.consuming() && !end.readerEnded) {
          end.drain('drain');
          started = true;
        }
      }
      this.runFor(0);
      if (!started && !this.busy()) return;
    }
    throw new Error('the pairs never stopped moving bytes');
  }

  /**
   * "A loss is always reported". Bytes a writer accepted that its peer's reader neither handed out
   * nor holds are missing. Up to `bytesLost` of them the writer's failure accounts for; any more
   * (bytes that reached the OS) only a broken path does: the reader's side stopped reading or saw
   * a reset, or the writer's consumerLeft emitted.
   */
  checkDelivery(): void {
    for (const w of this.ends) {
      const r = w.peer;
      const { writer } = w.connection;
      const arrived = r.received.length + r.connection.reader.bytesBuffered;
      const missing = w.written.length - arrived;
      if (missing <= 0) continue;
      const leftSeen = w.left?.state === 'done' || replays(writer.consumerLeft);
      // The path broke: the reader's side stopped reading, was reset, or the writer saw its peer leave.
      const broken = leftSeen || r.readerErrors.length > 0 || r.stoppedReading;
      // Bytes the writer did not count as lost reached the OS: they arrive unless the path broke.
      if (missing > writer.bytesLost && !broken) {
        throw new Error(
          `${missing} of the ${w.written.length} bytes ${w.name} wrote never reached ${r.name}, ` +
            `${missing - writer.bytesLost} more than ${w.name}.writer.bytesLost, and nobody was told: ` +
            `${w.name}.writer is ${writer.state}; ${r.name}'s reader ${r.connection.reader.isClosed ? 'closed' : 'open'}, no error`,
        );
      }
      if (writer.state !== 'failed' && !broken) {
        throw new Error(
          `${missing} bytes ${w.name} wrote are missing at ${r.name} but ${w.name}.writer is ${writer.state}`,
        );
      }
    }
  }

  checkPrefixes(): void {
    for (const w of this.ends) {
      const r = w.peer;
      const problem = notAPrefix(r.received.bytes(), w.written.bytes());
      if (problem !== undefined) throw new Error(`${w.name} -> ${r.name}: ${problem}`);
    }
  }

  /** Lets every reader read, checks delivery, then closes and destroys everything and checks the ends. */
  finish(): void {
    this.runFor(0);
    this.check();
    this.drainAll();
    this.check();
    this.checkPrefixes();
    this.checkDelivery();
    const force: WriterCloseOptions = { forceCloseAfter: this.options.endForce };
    for (const end of this.ends) {
      end.tornDownByCommands = end.tornDown;
      end.tornDown = true;
      end.callerClosed = true;
      end.stoppedReading = true;
      end.watch();
      end.connectionCloses.push(this.follow(`${end.name}.close() at the end`, end.connection.close(force)));
    }
    this.runFor(LONG);
    for (const end of this.ends) end.connection.destroy();
    this.runFor(LONG);
    this.check();
    this.checkPrefixes();
    for (const end of this.ends) {
      const { state } = end.connection.writer;
      if (state !== 'closed' && state !== 'failed') throw new Error(`${end.name}.writer ended ${state}`);
      // connection.close(): "completes once the socket is closed, erroring with the writer's failure".
      const failure = end.finished!.error;
      for (const close of end.connectionCloses) {
        if (close.state !== (state === 'failed' ? 'error' : 'done') || close.error !== failure) {
          throw new Error(
            `${close.what} ended ${close.state} (${String(close.error)}) for a ${state} writer`,
          );
        }
      }
    }
    const unsettled = this.tracked.filter((t) => t.state === 'pending' && !t.dropped);
    if (unsettled.length > 0) {
      throw new Error(`never settled: ${unsettled.map((t) => t.what).join(', ')}`);
    }
    if (this.scheduler.actions.length > 0) throw new Error('timers left running after everything closed');
  }

  tally(stats: Map<string, number>): void {
    const add = (key: string) => stats.set(key, (stats.get(key) ?? 0) + 1);
    add('runs');
    for (const end of this.ends) {
      const { writer } = end.connection;
      add(`writer ${writer.state}${end.finished?.error ? ` ${(end.finished.error as Error).name}` : ''}`);
      if (writer.bytesLost > 0) add('writer lost bytes');
      if (end.left?.state === 'done') add('consumerLeft emitted');
      else if (writer.state === 'closed') add('consumerLeft pending, writer closed');
      else add('consumerLeft pending, writer failed');
      const self = end.tornDownByCommands ? 'after own teardown' : 'no own teardown';
      for (const error of end.readerErrors) {
        add(`reader error ${(error as Error).name} ${(error as { code?: string }).code ?? ''} (${self})`);
      }
      const failure = end.finished?.error as
        | (Error & { cause?: { code?: string; name?: string } })
        | undefined;
      if (failure !== undefined) {
        add(
          `writer failure ${failure.name} cause ${failure.cause?.code ?? failure.cause?.name ?? '-'} (${self})`,
        );
      }
      const arrived = end.peer.received.length;
      if (arrived < end.written.length) add('direction with bytes missing (excused)');
      if (arrived > end.written.length - writer.bytesLost) add('received more than bytesWritten - bytesLost');
      if (end.written.length > 0) add('direction with bytes');
    }
    for (const t of this.tracked)
      add(
        `tracked ${t.what.replace(/\(\d+\)/, '(n)').replace(/^[abcd]\./, '')} ${t.dropped ? 'dropped' : t.state}`,
      );
  }
}

/** The error `source` (hot, replaying) failed with already, if it did. */
function failureOf(source: Observable<void>): unknown {
  let failure: unknown;
  source.subscribe({ error: (error) => (failure = error) }).unsubscribe();
  return failure;
}

/** True if `source` (hot, replaying) has emitted already. */
function replays(source: Observable<void>): boolean {
  let emitted = false;
  source.subscribe({ next: () => (emitted = true), error: () => {} }).unsubscribe();
  return emitted;
}

type MemoryCommand = fc.Command<object, MemoryWorld>;

/** A command that always applies: what a call must do in each state is checked by the call. */
abstract class Step implements MemoryCommand {
  check(): boolean {
    return true;
  }

  run(_model: object, world: MemoryWorld): void {
    this.apply(world);
    world.check();
  }

  abstract apply(world: MemoryWorld): void;
  abstract toString(): string;
}

class Write extends Step {
  constructor(
    readonly end: number,
    readonly n: number,
    readonly text: boolean,
  ) {
    super();
  }

  apply(world: MemoryWorld): void {
    const end = world.ends[this.end];
    const { writer } = end.connection;
    const { n } = this;
    const data = this.text
      ? patternText(end.index, end.directOffset, n)
      : patternBytes(end.index, end.directOffset, n);
    const copy = Buffer.from(data);
    // Read before the call: a reaction inside it (to closeFinished, say) may close the writer.
    const closedBefore = end.callerClosed;
    let thrown: unknown;
    try {
      writer.write(data);
    } catch (error) {
      thrown = error;
    }
    // "write throws WriterClosedError only after the caller's own close()/complete()".
    if (closedBefore) {
      if (!(thrown instanceof WriterClosedError))
        throw new Error(`write after close did not throw: ${thrown}`);
      return;
    }
    if (thrown !== undefined) throw thrown;
    end.directOffset += n;
    end.written.push(copy);
    if (typeof data === 'string') return;
    // "a caller may reuse its Uint8Array once write returns"; a large one once flushed() emits.
    if (n < LARGE_WRITE) data.fill(0xee);
    else
      world
        .follow(`${end.name}.writer.flushed() (large write)`, writer.flushed())
        .subscription!.add(() => data.fill(0xee));
  }

  toString(): string {
    return `write(${NAMES[this.end]}, ${this.n}${this.text ? ', text' : ''})`;
  }
}

class Flushed extends Step {
  constructor(readonly end: number) {
    super();
  }

  apply(world: MemoryWorld): void {
    const end = world.ends[this.end];
    const { writer } = end.connection;
    const before = writer.state;
    const tracked = world.follow(`${end.name}.writer.flushed()`, writer.flushed());
    // A writer that ended answers at once: a failed one with its failure.
    if (before === 'failed' && tracked.state !== 'error')
      throw new Error('flushed() on a failed writer did not fail');
    if (before === 'closed' && tracked.state !== 'done')
      throw new Error('flushed() on a closed writer did not complete');
  }

  toString(): string {
    return `flushed(${NAMES[this.end]})`;
  }
}

type Ending = 'close' | 'complete' | 'error' | 'destroy' | 'connection.close' | 'reader.close';

class Close extends Step {
  constructor(
    readonly end: number,
    readonly how: Ending,
    readonly forceCloseAfter: number | 'never' | undefined,
  ) {
    super();
  }

  apply(world: MemoryWorld): void {
    const end = world.ends[this.end];
    const { connection } = end;
    const { writer, reader } = connection;
    const options = this.forceCloseAfter === undefined ? {} : { forceCloseAfter: this.forceCloseAfter };
    // A close may be forced (30 s unless said otherwise): a teardown by this side.
    const mayForce =
      this.forceCloseAfter !== 'never' && (this.how === 'close' || this.how === 'connection.close');
    if (mayForce || this.how === 'complete') end.tornDown = true;
    switch (this.how) {
      case 'close': {
        end.callerClosed = true;
        const result = writer.close(options);
        // "same result for every call".
        end.closeResult ??= result;
        if (result !== end.closeResult || result !== writer.closeFinished) {
          throw new Error('writer.close() returned a different Observable');
        }
        world.follow(`${end.name}.writer.close()`, result);
        if (writer.state === 'open' || writer.state === 'gone')
          throw new Error(`close() left the writer ${writer.state}`);
        return;
      }
      case 'complete':
        end.callerClosed = true;
        writer.complete();
        return;
      case 'error': {
        end.callerClosed = true;
        end.stoppedReading = true;
        end.tornDown = true;
        const before = writer.state;
        writer.error(new Error('aborted by the fault model'));
        if (before !== 'closed' && writer.state !== 'failed')
          throw new Error(`error() left the writer ${writer.state}`);
        return;
      }
      case 'destroy':
        end.stoppedReading = true;
        end.tornDown = true;
        connection.destroy();
        return;
      case 'connection.close': {
        end.callerClosed = true;
        end.stoppedReading = true;
        const result = connection.close(options);
        end.connectionCloseResult ??= result;
        if (result !== end.connectionCloseResult)
          throw new Error('connection.close() returned a different Observable');
        end.connectionCloses.push(world.follow(`${end.name}.close()`, result));
        return;
      }
      case 'reader.close':
        end.stoppedReading = true;
        world.follow(`${end.name}.reader.close()`, reader.close());
        // "A read still waiting gets EOF, a subscriber completes"; a transfer may first finish its flush.
        if (!world.reacting && pending(end.consumer) && end.consumer!.kind !== 'transfer') {
          throw new Error(`${end.consumer!.what} did not end when the reader was closed`);
        }
        return;
    }
  }

  toString(): string {
    const options = this.forceCloseAfter === undefined ? '' : `, forceCloseAfter ${this.forceCloseAfter}`;
    return `${this.how}(${NAMES[this.end]}${options})`;
  }
}

type ReadKind = 'subscribe' | 'read' | 'reallyRead' | 'contents';

class Read extends Step {
  constructor(
    readonly end: number,
    readonly kind: ReadKind,
    readonly n: number,
  ) {
    super();
  }

  apply(world: MemoryWorld): void {
    const end = world.ends[this.end];
    const { reader } = end.connection;
    const record = (value: unknown) => {
      if (value === EOF) return;
      end.got(Buffer.isBuffer(value) ? value : (value as ShortRead).data);
    };
    switch (this.kind) {
      case 'subscribe':
        end.drain('push');
        return;
      case 'read':
        end.consume('pull', `${end.name}.reader.read()`, reader.read(), record);
        return;
      case 'reallyRead':
        end.consume('pull', `${end.name}.reader.reallyRead(${this.n})`, reader.reallyRead(this.n), record);
        return;
      case 'contents':
        end.consume('pull', `${end.name}.reader.contents()`, reader.contents(), record);
        return;
    }
  }

  toString(): string {
    return `${this.kind}(${NAMES[this.end]}${this.kind === 'reallyRead' ? `, ${this.n}` : ''})`;
  }
}

const FAILING_F = new Error('f failed (fault model)');

/** What a transfer's `f` returns: the chunk itself, a copy, or a string (its bytes as Latin-1, sent as UTF-8). */
type Mapping = 'same' | 'copy' | 'text';

class Transfer extends Step {
  constructor(
    readonly route: number,
    /** f throws on this chunk (counted from 0), if given. */
    readonly throwAt: number | undefined,
    readonly mapping: Mapping,
  ) {
    super();
  }

  apply(world: MemoryWorld): void {
    const [from, into] = ROUTES[this.route];
    const source = world.ends[from];
    const target = world.ends[into];
    const writer = target.connection.writer;
    const before = writer.state;
    let chunks = 0;
    const f = (chunk: Buffer) => {
      source.received.push(chunk);
      if (chunks++ === this.throwAt) {
        // Possibly during subscribe, before `tracked` is assigned: looked up at the next check.
        world.fThrew.push(() => tracked);
        throw FAILING_F;
      }
      const mapped =
        this.mapping === 'same'
          ? chunk
          : this.mapping === 'copy'
            ? Uint8Array.from(chunk)
            : chunk.toString('latin1');
      target.written.push(typeof mapped === 'string' ? Buffer.from(mapped) : mapped);
      return mapped;
    };
    const receivedBefore = source.received.length;
    let tracked: Tracked | undefined;
    // Assigned apart from its declaration: f, which refers to it, may run before consume returns.
    tracked = source.consume(
      'transfer',
      `${source.name}.reader.transfer(${target.name}.writer)`,
      source.connection.reader.transfer(writer, f),
      () => {},
      into,
    );
    // "it never reads on into a writer that can no longer send".
    if (before !== 'open' && source.received.length !== receivedBefore) {
      throw new Error(`a transfer into a ${before} writer read from its reader`);
    }
  }

  toString(): string {
    const [from, into] = ROUTES[this.route];
    const f = this.throwAt === undefined ? '' : `, f throws at chunk ${this.throwAt}`;
    return `transfer(${NAMES[from]} -> ${NAMES[into]}, ${this.mapping}${f})`;
  }
}

class Unsubscribe extends Step {
  constructor(readonly end: number) {
    super();
  }

  apply(world: MemoryWorld): void {
    const consumer = world.ends[this.end].consumer;
    if (!pending(consumer)) return;
    consumer!.dropped = true;
    consumer!.subscription!.unsubscribe();
  }

  toString(): string {
    return `unsubscribe(${NAMES[this.end]})`;
  }
}

/** Where a reaction runs: inside a chunk's delivery, closeFinished settling, or consumerLeft emitting. */
type Trigger = 'chunk' | 'closeFinished' | 'consumerLeft';

/** Arms `step` to run inside a callback of end `on`'s reader or writer, once. */
class React extends Step {
  constructor(
    readonly on: number,
    readonly trigger: Trigger,
    readonly step: Step,
  ) {
    super();
  }

  apply(world: MemoryWorld): void {
    const end = world.ends[this.on];
    const { writer } = end.connection;
    let fired = false;
    const fire = () => {
      if (fired) return;
      fired = true;
      world.react(this.step);
    };
    if (this.trigger === 'chunk') end.onChunk.push(this.step);
    else if (this.trigger === 'closeFinished')
      writer.closeFinished.subscribe({ complete: fire, error: fire });
    else writer.consumerLeft.subscribe({ next: fire, error: () => {} });
  }

  toString(): string {
    return `on ${this.trigger} of ${NAMES[this.on]}: ${this.step}`;
  }
}

/** Subscribes late to closeFinished and consumerLeft: they replay what happened. */
class Observe extends Step {
  constructor(readonly end: number) {
    super();
  }

  apply(world: MemoryWorld): void {
    const end = world.ends[this.end];
    end.watch();
    const { writer } = end.connection;
    const finished = follow('late closeFinished', writer.closeFinished);
    const left = follow('late consumerLeft', writer.consumerLeft);
    if (finished.state !== end.finished!.state || finished.error !== end.finished!.error) {
      throw new Error(`a late closeFinished got ${finished.state}, an early one ${end.finished!.state}`);
    }
    if (left.state !== end.left!.state) {
      throw new Error(`a late consumerLeft got ${left.state}, an early one ${end.left!.state}`);
    }
    finished.subscription!.unsubscribe();
    left.subscription!.unsubscribe();
  }

  toString(): string {
    return `observe(${NAMES[this.end]})`;
  }
}

class Advance extends Step {
  constructor(readonly ms: number) {
    super();
  }

  apply(world: MemoryWorld): void {
    world.runFor(this.ms);
  }

  toString(): string {
    return `advance(${this.ms})`;
  }
}

const anEnd = fc.integer({ min: 0, max: 3 });
const aForce = fc.constantFrom<number | 'never' | undefined>(undefined, undefined, 0, 5, 100, 'never');
const aWrite = fc
  .tuple(
    anEnd,
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 100 }) },
      { weight: 3, arbitrary: fc.integer({ min: 101, max: 8_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: LARGE_WRITE - 1, max: 70_000 }) },
    ),
    fc.boolean(),
  )
  .map(([end, n, text]) => new Write(end, n, text));
const aClose = fc
  .tuple(
    anEnd,
    fc.constantFrom<Ending>(
      'close',
      'complete',
      'error',
      'destroy',
      'connection.close',
      'reader.close',
      'close',
      'destroy',
    ),
    aForce,
  )
  .map(([end, how, force]) => new Close(end, how, force));
/** What user code may do inside a callback (never a read or a transfer of the same reader: the model cannot tell those apart). */
const aReaction = fc
  .tuple(
    anEnd,
    fc.constantFrom<Trigger>('chunk', 'chunk', 'closeFinished', 'consumerLeft'),
    fc.oneof<fc.Arbitrary<Step>[]>(
      aWrite,
      aClose,
      anEnd.map((end) => new Flushed(end)),
      anEnd.map((end) => new Unsubscribe(end)),
    ),
  )
  .map(([on, trigger, step]) => new React(on, trigger, step));
const memoryCommands = [
  { weight: 8, arbitrary: aWrite },
  { weight: 2, arbitrary: aClose },
  { weight: 3, arbitrary: aReaction },
  { weight: 2, arbitrary: anEnd.map((end) => new Flushed(end)) },
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        anEnd,
        fc.constantFrom<ReadKind>('subscribe', 'subscribe', 'read', 'reallyRead', 'contents'),
        fc.integer({ min: 1, max: 20_000 }),
      )
      .map(([end, kind, n]) => new Read(end, kind, n)),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 0, max: ROUTES.length - 1 }),
        fc.option(fc.integer({ min: 0, max: 5 }), { freq: 8, nil: undefined }),
        fc.constantFrom<Mapping>('same', 'same', 'copy', 'text'),
      )
      .map(([route, throwAt, mapping]) => new Transfer(route, throwAt, mapping)),
  },
  { weight: 3, arbitrary: anEnd.map((end) => new Unsubscribe(end)) },
  { weight: 1, arbitrary: anEnd.map((end) => new Observe(end)) },
  {
    weight: 5,
    arbitrary: fc.constantFrom(0, 0, 0, 1, 7, 60, 250, 1_500, 40_000).map((ms) => new Advance(ms)),
  },
].map(({ weight, arbitrary }) => ({ weight, arbitrary: arbitrary as fc.Arbitrary<MemoryCommand> }));

const memoryOptions: fc.Arbitrary<MemoryOptions> = fc.record({
  windowSize: fc.constantFrom(16, 300, 4096, 65_536),
  readerBufferSize: fc.constantFrom(1, 100, 4096, 131_072),
  bufferAgeLimit: fc.constantFrom<number | 'unlimited'>('unlimited', 'unlimited', 50, 1_000, 120_000),
  watchEarly: fc.boolean(),
  endForce: fc.constantFrom(0, 50, 30_000),
});

/** One run: the commands, then the end of the run and its checks. */
function memoryRun(options: MemoryOptions, commands: Iterable<MemoryCommand>): void {
  escaped.length = 0;
  const world = new MemoryWorld(options);
  fc.modelRun(() => ({ model: {}, real: world }), commands);
  world.finish();
  noEscapes();
  if (STATS !== undefined) world.tally(STATS);
}

/** RXTCP_FC_STATS=1: counts of what the runs exercised, printed at the end. */
const STATS: Map<string, number> | undefined = env.RXTCP_FC_STATS ? new Map() : undefined;
afterAll(() => {
  if (STATS !== undefined)
    console.log(
      [...STATS]
        .sort()
        .map(([k, v]) => `${k}: ${v}`)
        .join('\n'),
    );
});

describe('fault model (issue 17)', () => {
  it(
    `in memory, in virtual time: ${MEMORY_RUNS} runs`,
    () => {
      fc.assert(
        fc.property(
          memoryOptions,
          fc.commands([fc.oneof(...memoryCommands)], { maxCommands: 60, size: 'medium', ...COMMANDS_REPLAY }),
          memoryRun,
        ),
        { numRuns: MEMORY_RUNS, interruptAfterTimeLimit: TIME_LIMIT, ...REPLAY },
      );
    },
    TIME_LIMIT + 60_000,
  );
});

// ---------------------------------------------------------------------------------------------
// Suite 2: a real server on loopback, raw `node:net` clients doing what fast-check draws.

const LINE_MAX = 2048;

type HandlerKind = 'echo' | 'push-echo' | 'lines' | 'readline' | 'big';

interface LoopbackOptions {
  handler: HandlerKind;
  maxConnections: number;
  readerBufferSize: number | undefined;
  bufferAgeLimit: number | undefined;
  idleTimeout: number | undefined;
  bigSize: number;
  clients: number;
}

type ClientAction =
  | { type: 'write'; n: number; newline: boolean }
  | { type: 'end' | 'reset' | 'destroy' | 'pause' | 'resume' }
  | { type: 'turns'; n: number }
  | { type: 'sleep'; ms: number };

interface ClientStep {
  client: number;
  action: ClientAction;
}

/** What each handler does with its connection; the line handlers echo lines, the others bytes. */
function handlerFor(options: LoopbackOptions): Handler<InetAddress> {
  switch (options.handler) {
    case 'echo':
      return (_address, reader, writer) => reader.transfer(writer);
    case 'push-echo':
      return (_address, reader, writer) => reader.pipe(tap((chunk) => writer.write(chunk)));
    case 'lines':
      return (_address, reader, writer) =>
        reader.lines({ max: LINE_MAX }).pipe(tap((line) => writer.writeLine(line)));
    case 'readline':
      return (_address, reader, writer) =>
        defer(async () => {
          for (;;) {
            const line = await firstValueFrom(reader.readLine({ max: LINE_MAX }));
            if (line === EOF) return;
            writer.writeLine(line);
          }
        });
    case 'big':
      return (_address, _reader, writer) => {
        writer.write(patternBytes(99, 0, options.bigSize));
        return writer.flushed();
      };
  }
}

/** A raw client and what it did and saw. */
class Client {
  readonly socket: net.Socket;
  readonly sent = new ByteLog();
  readonly received = new ByteLog();
  port: number | undefined;
  gotEnd = false;
  error: unknown;
  closed = false;
  /** It reset or destroyed itself: it owes nothing to anybody. */
  leftAbruptly = false;
  ended = false;
  offset = 0;

  constructor(
    readonly index: number,
    serverPort: number,
  ) {
    const socket = net.connect({ host: '127.0.0.1', port: serverPort });
    this.socket = socket;
    socket.on('connect', () => (this.port = socket.localPort));
    socket.on('data', (chunk: Buffer) => this.received.push(chunk));
    socket.on('end', () => (this.gotEnd = true));
    socket.on('error', (error) => (this.error = error));
    socket.on('close', () => (this.closed = true));
  }

  async act(action: ClientAction, lines: boolean): Promise<void> {
    const { socket } = this;
    switch (action.type) {
      case 'write': {
        if (this.ended || socket.destroyed) return;
        // Line handlers get lines (a long run without a newline is a line over the limit).
        const data = lines
          ? Buffer.from(`${patternText(this.index, this.offset, action.n)}${action.newline ? '\n' : ''}`)
          : patternBytes(this.index, this.offset, action.n);
        this.offset += action.n;
        this.sent.push(data);
        socket.write(data);
        return;
      }
      case 'end':
        if (this.ended || socket.destroyed) return;
        this.ended = true;
        socket.end();
        return;
      case 'reset':
      case 'destroy':
        if (socket.destroyed) return;
        this.leftAbruptly = true;
        if (action.type === 'reset' && !socket.connecting) socket.resetAndDestroy();
        else socket.destroy();
        return;
      case 'pause':
        socket.pause();
        return;
      case 'resume':
        socket.resume();
        return;
      case 'turns':
        for (let i = 0; i < action.n; i++) await new Promise((resolve) => setImmediate(resolve));
        return;
      case 'sleep':
        // Lets the server's timers (buffer age, idle) run out: time passing is the fault here.
        await new Promise((resolve) => setTimeout(resolve, action.ms));
        return;
    }
  }
}

/** Descriptors this process holds. */
function descriptors(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

const aClientAction: fc.Arbitrary<ClientAction> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        n: fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 1, max: 200 }) },
          { weight: 3, arbitrary: fc.integer({ min: 201, max: 70_000 }) },
          // Past loopback's kernel buffers: the server's answer backs up into its writer.
          { weight: 1, arbitrary: fc.integer({ min: 256 * 1024, max: 2 * 1024 * 1024 }) },
        ),
        newline: fc.boolean(),
      })
      .map(({ n, newline }) => ({ type: 'write' as const, n, newline })),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'end' as const }) },
  { weight: 1, arbitrary: fc.constantFrom({ type: 'reset' as const }, { type: 'destroy' as const }) },
  { weight: 2, arbitrary: fc.constant({ type: 'pause' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'resume' as const }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 4 }).map((n) => ({ type: 'turns' as const, n })) },
  { weight: 2, arbitrary: fc.constantFrom(5, 30, 120).map((ms) => ({ type: 'sleep' as const, ms })) },
);

const loopbackOptions: fc.Arbitrary<LoopbackOptions> = fc.record({
  handler: fc.constantFrom<HandlerKind>('echo', 'push-echo', 'lines', 'readline', 'big'),
  maxConnections: fc.constantFrom(1, 2, 100),
  readerBufferSize: fc.constantFrom(undefined, 1024),
  bufferAgeLimit: fc.constantFrom(undefined, undefined, 100),
  idleTimeout: fc.constantFrom(undefined, undefined, undefined, 80),
  bigSize: fc.constantFrom(1, 64 * 1024, 8 * 1024 * 1024, 8 * 1024 * 1024),
  clients: fc.integer({ min: 1, max: 3 }),
});

const loopbackSteps = (clients: number) =>
  fc.array(fc.record({ client: fc.integer({ min: 0, max: clients - 1 }), action: aClientAction }), {
    maxLength: 16,
  });

/** What a well-behaved client must get back in full, from what it sent. */
function expectedAnswer(options: LoopbackOptions, sent: Buffer): Buffer {
  switch (options.handler) {
    case 'big':
      return patternBytes(99, 0, options.bigSize);
    case 'lines':
    case 'readline':
      // An unterminated last line is answered as a line.
      return sent.length === 0 || sent[sent.length - 1] === 0x0a
        ? sent
        : Buffer.concat([sent, Buffer.from('\n')]);
    default:
      return sent;
  }
}

/**
 * A fresh client is served: it gets its whole answer, or (the big answer under a buffer-age limit,
 * which a healthy reader may not drain in time) part of it and a failure the server reports.
 */
async function stillServes(
  options: LoopbackOptions,
  port: number,
  events: readonly ServerEvent<InetAddress>[],
): Promise<void> {
  const client = new Client(7, port);
  const request = Buffer.from('still there?\n');
  client.socket.end(request);
  await waitFor(() => client.closed, 10_000, 'a fresh client to be answered');
  const expected = options.handler === 'big' ? patternBytes(99, 0, options.bigSize) : request;
  const received = client.received.bytes();
  expect(notAPrefix(received, expected)).toBeUndefined();
  if (received.length === expected.length) return;
  await waitFor(
    () => events.some((e) => e.type === 'connectionClosed' && e.address?.port === client.port),
    5_000,
    'the fresh connection to close',
  );
  const closing = events.find((e) => e.type === 'connectionClosed' && e.address?.port === client.port)!;
  expect(closing.error).toBeInstanceOf(BufferAgeLimitError);
}

async function loopbackRun(options: LoopbackOptions, steps: ClientStep[]): Promise<void> {
  escaped.length = 0;
  const fdsBefore = descriptors();
  const { maxConnections, readerBufferSize, bufferAgeLimit, idleTimeout } = options;
  const serverOptions: ServerOptions<InetAddress> = { maxConnections };
  if (readerBufferSize !== undefined) serverOptions.readerBufferSize = readerBufferSize;
  if (bufferAgeLimit !== undefined) serverOptions.bufferAgeLimit = bufferAgeLimit;
  if (idleTimeout !== undefined) serverOptions.idleTimeout = idleTimeout;
  const server = await firstValueFrom(Server.create(loopback(), handlerFor(options), serverOptions));
  const events: ServerEvent<InetAddress>[] = [];
  const eventSubscription = server.events.subscribe((event) => events.push(event));
  const accepted: net.Socket[] = [];
  const collect = (socket: net.Socket) => accepted.push(socket);
  server.listeningSocket.on('connection', collect);
  const finished = follow('server.closeFinished', server.closeFinished);
  const lines = options.handler === 'lines' || options.handler === 'readline';
  const clients = Array.from({ length: options.clients }, (_, i) => new Client(i, server.listeningOn));
  try {
    for (const { client, action } of steps) {
      await clients[client].act(action, lines);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Every client that is still there reads on and sends FIN: it must get its whole answer.
    for (const client of clients) {
      await client.act({ type: 'resume' }, lines);
      await client.act({ type: 'end' }, lines);
    }
    await waitFor(() => clients.every((c) => c.closed || c.gotEnd), 10_000, 'every client to be answered');
    for (const client of clients) client.socket.destroy();
    await waitFor(() => clients.every((c) => c.closed), 5_000, 'the clients to close');
    await waitFor(() => server.numConnections === 0, 5_000, 'the server to release every slot');
    await waitFor(() => accepted.every((s) => s.destroyed), 5_000, 'the accepted sockets to close');
    noEscapes();
    server.invariant();
    // "no peer can take a server down", whatever onHandlerError says ('raise' here).
    expect(server.isClosed()).toBe(false);
    expect(finished.state).toBe('pending');
    expect(events.filter((e) => e.type === 'handlerError')).toEqual([]);
    const closings = events.filter((e) => e.type === 'connectionClosed');
    expect(closings.length).toBe(events.filter((e) => e.type === 'accepted').length);
    for (const { error } of closings) {
      // "never as ConnectionAbortedError, which is kept for teardown by this side".
      if (idleTimeout === undefined) expect(error).not.toBeInstanceOf(ConnectionAbortedError);
    }
    for (const client of clients) {
      const expected = expectedAnswer(options, client.sent.bytes());
      const received = client.received.bytes();
      const problem = notAPrefix(received, expected);
      if (problem !== undefined) throw new Error(`client ${client.index}: ${problem}`);
      // Known gap: a handler that ends with the peer still sending (input unread, or arriving after
      // the close) can lose the tail of its answer: the kernel resets a socket closed with input
      // unread, discarding what it had not sent. The fix is a lingering close (read on until the
      // peer's FIN), which is not built yet.
      const unreadInput = options.handler === 'big' && client.sent.length > 0 && !STRICT;
      // A clean end with part of the answer missing is a loss the server must have reported.
      if (
        client.gotEnd &&
        !client.leftAbruptly &&
        received.length < expected.length &&
        idleTimeout === undefined &&
        !unreadInput
      ) {
        const closing = closings.find((e) => e.address?.port === client.port);
        if (closing?.error === undefined) {
          throw new Error(
            `client ${client.index} got a clean end after ${received.length} of ${expected.length} bytes, ` +
              'and the server reported no failure',
          );
        }
      }
    }
    await stillServes(options, server.listeningOn, events);
    noEscapes();
    if (STATS !== undefined) {
      const add = (key: string) => STATS.set(key, (STATS.get(key) ?? 0) + 1);
      add(`loopback run ${options.handler}`);
      for (const { error } of closings) {
        const e = error as (Error & { code?: string; cause?: { code?: string } }) | undefined;
        add(
          `loopback connectionClosed ${e === undefined ? 'clean' : `${e.name} ${e.code ?? ''} ${e.cause?.code ?? ''}`}`,
        );
      }
      for (const client of clients) {
        const full = client.received.length === expectedAnswer(options, client.sent.bytes()).length;
        add(
          `loopback client ${client.leftAbruptly ? 'left abruptly' : client.gotEnd ? 'clean end' : 'no end'}${full ? ', full answer' : ', partial answer'}${client.error ? ` ${(client.error as { code?: string }).code}` : ''}`,
        );
      }
    }
  } finally {
    for (const client of clients) client.socket.destroy();
    server.listeningSocket.off('connection', collect);
    await lastValueFrom(server.close({ closeExistingConnections: true, forceCloseAfter: 0 })).catch(() => {});
    eventSubscription.unsubscribe();
  }
  expect(finished.state).toBe('done');
  // No handler is called after close: the listening socket lost its connection listener.
  expect(server.listeningSocket.listening).toBe(false);
  expect(server.listeningSocket.listenerCount('connection')).toBe(0);
  // The shared handlers stay on a destroyed socket with nothing behind them (issue 18, as the
  // connect spec checks): at most one of ours per event, and late events on it change nothing.
  const bare = listenerCounts(new net.Socket());
  const ours = { data: bare.data + 1, end: bare.end + 1, error: bare.error + 1, close: bare.close + 1 };
  const eventsBefore = events.length;
  for (const socket of accepted) {
    expect(socket.destroyed).toBe(true);
    const counts = listenerCounts(socket);
    for (const [event, count] of Object.entries(counts)) {
      expect(count).toBeLessThanOrEqual({ ...bare, ...ours }[event] ?? 0);
    }
    socket.emit('data', Buffer.from('late'));
    socket.emit('end');
    socket.emit('error', new Error('late'));
    socket.emit('close', false);
  }
  expect(events.length).toBe(eventsBefore);
  expect(server.numConnections).toBe(0);
  server.invariant();
  noEscapes();
  await waitFor(() => descriptors() <= fdsBefore, 5_000, `descriptors back to ${fdsBefore}`);
}

describe('fault model on loopback (issue 17)', () => {
  let fdsAtStart = 0;

  beforeAll(async () => {
    // One run first, so that what Node opens once per process (its event loop's own handles) is
    // counted before the measure.
    await loopbackRun(
      {
        handler: 'echo',
        maxConnections: 1,
        readerBufferSize: undefined,
        bufferAgeLimit: undefined,
        idleTimeout: undefined,
        bigSize: 1,
        clients: 1,
      },
      [{ client: 0, action: { type: 'write', n: 10, newline: true } }],
    );
    fdsAtStart = descriptors();
  });

  it(
    `${LOOPBACK_RUNS} runs of raw clients against a real server`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          loopbackOptions.chain((options) => fc.tuple(fc.constant(options), loopbackSteps(options.clients))),
          ([options, steps]) => loopbackRun(options, steps),
        ),
        {
          numRuns: LOOPBACK_RUNS,
          interruptAfterTimeLimit: TIME_LIMIT,
          ...REPLAY,
        },
      );
      await waitFor(() => descriptors() <= fdsAtStart, 5_000, `descriptors back to ${fdsAtStart}`);
    },
    TIME_LIMIT + 60_000,
  );
});

// ---------------------------------------------------------------------------------------------
// What the model found, each as a plain regression spec.

describe('fault model: regressions found (issue 17)', () => {
  it(
    'bug 1 (seed -1181515944, every run with a clean close): consumerLeft settles once the writer ' +
      'closed cleanly and the connection ended',
    () => {
      const scheduler = new VirtualTimeScheduler();
      const [a, b] = connectionPair({ scheduler });
      const left = follow('a.writer.consumerLeft', a.writer.consumerLeft);
      a.reader.subscribe();
      b.reader.subscribe();
      a.writer.write('hello');
      a.close().subscribe();
      b.close().subscribe();
      scheduler.flush();
      expect(a.writer.state).toBe('closed');
      expect(follow('a.closed', a.closed).state).toBe('done');
      // SPEC, "One life, one ending": every consumerLeft ... settles on every path.
      expect(left.state).not.toBe('pending');
    },
  );
});
