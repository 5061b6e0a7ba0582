import { constants } from 'node:os';
import type { SchedulerLike } from 'rxjs';
import type { Transport, TransportListener } from '../stream/transport';

// Two in-memory ends of a TCP connection, for `rx-tcp/testing`. The model is deliberately small,
// but it keeps the properties the Reader and Writer depend on:
//
// - Each direction is a pipe. A write first waits in the sender's queue (Node's userland buffer,
//   reported as `writableLength`), then enters an in-flight window of `windowSize` bytes (the two
//   kernels' buffers) and only then counts as "reached the OS": its `done` runs and it is copied, so
//   a caller may reuse a large buffer once `flushed()` emits, as with a real socket.
// - The receiver takes what is in flight, in order, while it is not paused. A paused receiver
//   leaves the window full, so later writes stay in the sender's queue: the writer's `bytesToWrite`,
//   `flushed()` and buffer-age limit see the same pushback as on a socket.
// - FIN and RST travel in the pipe after the data sent before them, so the receiver sees every byte
//   sent before a close or a reset, and (as a paused socket does not read) notices them only once it
//   reads on. A receiver that writes while a reset waits for it fails at once, as with EPIPE.
// - `destroy` is Node's `destroy()`: what is in flight is still delivered, then FIN; but if bytes
//   from the peer were left unread, or arrive later, the peer gets a reset (what Linux does on a
//   close with unread data). `abort` is `resetAndDestroy()`: RST after what is in flight.
// - A side that has both sent and received FIN closes by itself, as a Node socket with
//   `allowHalfOpen` does (`autoDestroy`).
//
// Nothing happens synchronously inside a call but moving bytes into the window (a socket's write
// does that too): callbacks and deliveries run from one task scheduled on the given scheduler, so
// `TestScheduler.run` drives the pair in virtual time, and the order of events is always the same.

/** The peer's FIN. */
const FIN = Symbol('FIN');
/** A reset. */
const RST = Symbol('RST');
type Segment = Buffer | typeof FIN | typeof RST;
type Done = (error?: Error | null) => void;

/** One direction of the connection. */
interface Pipe {
  /** Writes not yet in the window, oldest first; `offset` is how much of `chunk` already went in. */
  readonly queue: { chunk: Uint8Array; offset: number; done: Done }[];
  /** Bytes in `queue`: the sender's `writableLength`. */
  queued: number;
  /** What is on its way to the receiver, in order: data, then at most a FIN and a RST. */
  readonly flight: Segment[];
  /** Data bytes in `flight`. */
  inFlight: number;
  /** A RST is in `flight`. */
  resetting: boolean;
  /** Callbacks of `end()` waiting for the queue to drain; `undefined` before `end()`. */
  ending: Done[] | undefined;
}

/** A Node-like error with a system error code. */
function systemError(message: string, code: string, errno?: number, syscall?: string): Error {
  const error = new Error(message) as Error & { code: string; errno?: number; syscall?: string };
  error.code = code;
  if (errno !== undefined) error.errno = -errno;
  if (syscall !== undefined) error.syscall = syscall;
  return error;
}

function resetError(syscall: 'read' | 'write'): Error {
  return systemError(`${syscall} ECONNRESET`, 'ECONNRESET', constants.errno.ECONNRESET, syscall);
}

function destroyedError(method: string): Error {
  return systemError(`Cannot call ${method} after a stream was destroyed`, 'ERR_STREAM_DESTROYED');
}

function newPipe(): Pipe {
  return { queue: [], queued: 0, flight: [], inFlight: 0, resetting: false, ending: undefined };
}

/** One end: what the Reader and Writer of one `Connection` see. */
class MemoryEnd implements Transport {
  peer!: MemoryEnd;
  listener: TransportListener | undefined;
  paused = false;
  closed = false;
  /** Our FIN entered the window (Node's `finish`). */
  finSent = false;
  /** The peer's FIN was delivered to our listener (Node's `end`). */
  eofSeen = false;

  constructor(
    private readonly network: MemoryNetwork,
    /** What we send. */
    readonly outgoing: Pipe,
    /** What we receive. */
    readonly incoming: Pipe,
  ) {}

  get writableLength(): number {
    return this.outgoing.queued;
  }

  write(data: Uint8Array | string, done: Done): void {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.closed) {
      this.network.defer(() => done(destroyedError('write')));
      return;
    }
    if (this.outgoing.ending !== undefined || this.finSent) {
      this.network.defer(() => done(systemError('write after end', 'ERR_STREAM_WRITE_AFTER_END')));
      return;
    }
    if (this.incoming.resetting) {
      // Writing is how a socket that does not read learns of a reset: the write fails.
      const error = resetError('write');
      this.network.defer(() => done(error));
      this.network.reset(this, error);
      return;
    }
    this.outgoing.queue.push({ chunk, offset: 0, done });
    this.outgoing.queued += chunk.byteLength;
    this.network.fill(this);
    this.network.kick();
  }

  /** The FIN enters the window as soon as nothing is queued before it, whatever the peer does. */
  endCannotStall(): boolean {
    return this.outgoing.queue.length === 0;
  }

  end(done: Done): void {
    if (this.closed) {
      this.network.defer(() => done(this.finSent ? null : destroyedError('end')));
      return;
    }
    if (this.finSent) {
      this.network.defer(() => done(null));
      return;
    }
    this.outgoing.ending ??= [];
    this.outgoing.ending.push(done);
    this.network.fill(this);
    this.network.kick();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.network.kick();
  }

  destroy(): void {
    this.network.close(this, 'destroy');
  }

  abort(): void {
    this.network.close(this, 'abort');
  }

  start(listener: TransportListener): void {
    this.listener = listener;
    this.network.kick();
  }
}

/** The network between the two ends: moves bytes and runs every callback, in one scheduled task. */
class MemoryNetwork {
  readonly ends: [MemoryEnd, MemoryEnd];
  /** Callbacks to run before any further delivery, in order. */
  private readonly tasks: (() => void)[] = [];
  private scheduled = false;

  constructor(
    private readonly windowSize: number,
    private readonly scheduler: SchedulerLike,
  ) {
    const ab = newPipe();
    const ba = newPipe();
    const a = new MemoryEnd(this, ab, ba);
    const b = new MemoryEnd(this, ba, ab);
    a.peer = b;
    b.peer = a;
    this.ends = [a, b];
  }

  defer(task: () => void): void {
    this.tasks.push(task);
    this.kick();
  }

  kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.scheduler.schedule(this.pump);
  }

  private readonly pump = () => {
    this.scheduled = false;
    try {
      while (this.step()) {
        // Each step delivers one thing; a listener may pause, write or close in between.
      }
    } finally {
      // A listener that threw leaves the rest for the next task instead of losing it.
      if (this.tasks.length > 0 || this.deliverable(this.ends[0]) || this.deliverable(this.ends[1])) {
        this.kick();
      }
    }
  };

  private step(): boolean {
    const task = this.tasks.shift();
    if (task !== undefined) {
      task();
      return true;
    }
    return this.deliver(this.ends[0]) || this.deliver(this.ends[1]);
  }

  /** True if `to` can take what is in flight towards it now. */
  private deliverable(to: MemoryEnd): boolean {
    if (to.incoming.flight.length === 0) return false;
    return to.closed || (to.listener !== undefined && !to.paused);
  }

  /** Delivers the next segment in flight towards `to`, if it can take it. */
  private deliver(to: MemoryEnd): boolean {
    if (!this.deliverable(to)) return false;
    const pipe = to.incoming;
    if (to.closed) {
      // A closed socket answers data with a reset; a FIN or RST to it goes nowhere.
      const data = pipe.inFlight > 0;
      this.discard(pipe);
      if (data) this.sendReset(to);
      return true;
    }
    const segment = pipe.flight.shift()!;
    const listener = to.listener!;
    if (segment === RST) {
      pipe.resetting = false;
      this.reset(to, resetError('read'));
    } else if (segment === FIN) {
      to.eofSeen = true;
      listener.onEnd();
      this.closeIfDone(to);
    } else {
      pipe.inFlight -= segment.length;
      this.fill(to.peer);
      listener.onData(segment);
    }
    return true;
  }

  /** Moves what `from` queued into the window as far as it has room, then its FIN once drained. */
  fill(from: MemoryEnd): void {
    const pipe = from.outgoing;
    while (pipe.queue.length > 0 && pipe.inFlight < this.windowSize) {
      const head = pipe.queue[0];
      const n = Math.min(this.windowSize - pipe.inFlight, head.chunk.byteLength - head.offset);
      // Copied now, as the kernel copies a write: the writer's caller may reuse its buffer.
      pipe.flight.push(Buffer.from(head.chunk.subarray(head.offset, head.offset + n)));
      pipe.inFlight += n;
      pipe.queued -= n;
      head.offset += n;
      if (head.offset === head.chunk.byteLength) {
        pipe.queue.shift();
        this.defer(() => head.done(null));
      }
    }
    const ending = pipe.ending;
    if (pipe.queue.length === 0 && ending !== undefined && !from.finSent) {
      pipe.ending = undefined;
      pipe.flight.push(FIN);
      from.finSent = true;
      for (const done of ending) this.defer(() => done(null));
      this.closeIfDone(from);
    }
  }

  /** Node's `autoDestroy`: FIN sent and FIN received close the socket. */
  private closeIfDone(end: MemoryEnd): void {
    if (end.finSent && end.eofSeen) this.close(end, 'destroy');
  }

  /** `end` closes: drops its queue, tells the peer (FIN or RST, after what is in flight), then `onClose`. */
  close(end: MemoryEnd, how: 'destroy' | 'abort'): void {
    if (end.closed) return;
    end.closed = true;
    const unread = end.incoming.inFlight > 0;
    this.dropQueue(end, destroyedError('write'));
    this.discard(end.incoming);
    if (how === 'abort' || unread) this.sendReset(end);
    else if (!end.finSent) {
      end.outgoing.flight.push(FIN);
      end.finSent = true;
    }
    this.defer(() => end.listener?.onClose());
  }

  /** `end` learns it was reset: `onError`, then `onClose`; what was still on its way to it is lost. */
  reset(end: MemoryEnd, error: Error): void {
    if (end.closed) return;
    end.closed = true;
    this.discard(end.incoming);
    this.discard(end.outgoing);
    this.dropQueue(end, error);
    this.defer(() => {
      end.listener?.onError(error);
      end.listener?.onClose();
    });
  }

  /** Queues a RST from `from` to its peer, after what is in flight, unless one is on its way already. */
  private sendReset(from: MemoryEnd): void {
    const { peer, outgoing } = from;
    if (peer.closed || outgoing.resetting) return;
    if (peer.outgoing.queued > 0) {
      // A peer with writes pending is still writing: its next write fails now, read or not.
      this.reset(peer, resetError('write'));
      return;
    }
    outgoing.flight.push(RST);
    outgoing.resetting = true;
    this.kick();
  }

  /** Fails the writes and the `end()` that `end` queued and that never reached the window. */
  private dropQueue(end: MemoryEnd, error: Error): void {
    const pipe = end.outgoing;
    const dropped = [...pipe.queue.map((entry) => entry.done), ...(pipe.ending ?? [])];
    pipe.queue.length = 0;
    pipe.queued = 0;
    pipe.ending = undefined;
    for (const done of dropped) this.defer(() => done(error));
  }

  private discard(pipe: Pipe): void {
    pipe.flight.length = 0;
    pipe.inFlight = 0;
    pipe.resetting = false;
  }
}

/**
 * Two connected in-memory transports: what one writes, the other receives, with the flow control,
 * half-close, close and reset of a TCP connection (see the model above). Every callback and every
 * delivery runs from a task on `scheduler`, never synchronously inside a call.
 * @param windowSize The bytes in flight per direction before writes wait in the sender's queue.
 * @param scheduler Runs deliveries and callbacks.
 */
export function memoryTransportPair(windowSize: number, scheduler: SchedulerLike): [Transport, Transport] {
  return new MemoryNetwork(windowSize, scheduler).ends;
}
