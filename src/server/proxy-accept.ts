import type * as net from 'node:net';
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { ByteQueue } from '../bytes/byte-queue';
import { type ProxyInfo, type ProxyProtocolVersion, readProxyHeader } from '../bytes/proxy-header';
import { ProxyProtocolError } from '../errors';
import { SOCKET_SLOT } from '../node/socket-transport';
import { checkTimerDelay, describe } from '../validate';

/** The default of `proxyHeaderTimeout`, in ms. */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 10_000;

/** @internal The PROXY protocol options of `listen` and `Server.create` (documented there). */
export interface ProxyProtocolOptions {
  proxyProtocol?: false | ProxyProtocolVersion;
  proxyHeaderTimeout?: number;
}

/** @internal Throws unless `proxyProtocol` and `proxyHeaderTimeout` are valid. */
export function checkProxyProtocolOptions(caller: string, options: ProxyProtocolOptions): void {
  const { proxyProtocol = false, proxyHeaderTimeout } = options;
  if (
    proxyProtocol !== false &&
    proxyProtocol !== 'v1' &&
    proxyProtocol !== 'v2' &&
    proxyProtocol !== 'any'
  ) {
    const message = `${caller}: proxyProtocol must be false, 'v1', 'v2' or 'any', got ${describe(proxyProtocol)}`;
    throw typeof proxyProtocol === 'string' ? new RangeError(message) : new TypeError(message);
  }
  if (proxyHeaderTimeout !== undefined) checkTimerDelay(caller, 'proxyHeaderTimeout', proxyHeaderTimeout, 1);
}

/**
 * @internal What reads the PROXY headers of a listening socket's connections, if `proxyProtocol`
 * says they have one; `rejected` is told of each connection refused.
 */
export function proxyHeaderReads(
  settings: {
    readonly proxyProtocol: false | ProxyProtocolVersion;
    readonly proxyHeaderTimeout: number;
    readonly scheduler: SchedulerLike;
  },
  rejected: (socket: net.Socket, error: ProxyProtocolError) => void,
): ProxyHeaderReads | undefined {
  const { proxyProtocol, proxyHeaderTimeout, scheduler } = settings;
  if (proxyProtocol === false) return undefined;
  return new ProxyHeaderReads(proxyProtocol, proxyHeaderTimeout, scheduler, rejected);
}

/** Called with a socket whose header was read, the bytes after it put back into the socket. */
export type HeaderRead = (socket: net.Socket, proxy: ProxyInfo | null) => void;

/**
 * The PROXY headers being read on one listening socket: one {@link ProxyHeaderRead} per accepted
 * connection, from its accept until its header is read, refused, or the listening stops.
 *
 * One timer for them all rather than one each: every read has the same timeout, so the reads, in
 * the order they started, are in the order of their deadlines, and the timer is always set for the
 * oldest read's (or later, once it is over). A timer each would cost a connection the set-up and
 * the cancelling of a Node timer.
 */
export class ProxyHeaderReads {
  /** The reads under way, oldest first. */
  private readonly reads = new Set<ProxyHeaderRead>();
  /** Set for the oldest read's deadline while there are reads. */
  private timer: Subscription | undefined;

  /**
   * @param accept The header versions accepted.
   * @param timeout How long a connection has to send its whole header, in ms.
   * @param scheduler Runs the timeouts.
   * @param rejected Told of each connection refused, before it is destroyed (its address still known).
   */
  constructor(
    readonly accept: ProxyProtocolVersion,
    readonly timeout: number,
    readonly scheduler: SchedulerLike,
    readonly rejected: (socket: net.Socket, error: ProxyProtocolError) => void,
  ) {}

  /** Headers being read. */
  get size(): number {
    return this.reads.size;
  }

  /** Starts reading `socket`'s header; `done` is called once it is read, unless it is refused. */
  read(socket: net.Socket, done: HeaderRead): void {
    const read = new ProxyHeaderRead(socket, this, done, this.scheduler.now() + this.timeout);
    this.reads.add(read);
    read.start();
    if (this.timer === undefined) this.arm();
  }

  /** @internal A read is over, whichever way. */
  ended(read: ProxyHeaderRead): void {
    this.reads.delete(read);
  }

  /** Stops every read under way and destroys their sockets, with no event: nobody serves them now. */
  cancelAll(): void {
    this.timer?.unsubscribe();
    this.timer = undefined;
    for (const read of [...this.reads]) read.cancel();
  }

  /** @internal The timer is due: refuses the reads past their deadline, then waits for the next. */
  expire(): void {
    this.timer = undefined;
    const now = this.scheduler.now();
    // Deleting the read being visited is safe in a Set's iteration; each is past its deadline or
    // none after it is.
    for (const read of this.reads) {
      if (read.deadline > now) break;
      read.timedOut();
    }
    this.arm();
  }

  /** Sets the timer for the oldest read's deadline, if any read is left. */
  private arm(): void {
    const oldest = this.reads.values().next();
    if (oldest.done) return;
    const delay = Math.max(0, oldest.value.deadline - this.scheduler.now());
    const timer = this.scheduler.schedule(expire, delay, this);
    // A scheduler may run the action at once: it has set the next timer by then.
    if (!timer.closed) this.timer = timer;
  }
}

function expire(this: SchedulerAction<ProxyHeaderReads>, reads?: ProxyHeaderReads): void {
  reads!.expire();
}

/**
 * Where a header read is. `reading` until one of: `read` (handed on, its listeners removed),
 * `rejected` (the peer's fault: bad, late, cut short; destroyed) or `cancelled` (the listening
 * stopped; destroyed).
 */
type ReadState = 'reading' | 'read' | 'rejected' | 'cancelled';

type ReadSocket = net.Socket & { [SOCKET_SLOT]?: unknown };

// One set of event handlers for every socket whose header is read (Node calls them with the
// socket as `this`), the read found in the socket's slot: no closures per connection.
function onHeaderData(this: ReadSocket, chunk: Buffer): void {
  readOf(this)?.data(chunk);
}

function onHeaderEnd(this: ReadSocket): void {
  readOf(this)?.reject(new ProxyProtocolError('the connection was closed before its header was complete'));
}

function onHeaderError(this: ReadSocket, error: Error): void {
  readOf(this)?.reject(
    new ProxyProtocolError('the connection failed before its header was complete', { cause: error }),
  );
}

/** The read of `socket`'s header, while it is under way. */
function readOf(socket: ReadSocket): ProxyHeaderRead | undefined {
  const read = socket[SOCKET_SLOT];
  return read instanceof ProxyHeaderRead ? read : undefined;
}

/**
 * Reads the PROXY header at the start of one accepted socket, before its deadline, then hands the
 * socket on, paused, with the bytes that followed the header put back (`unshift`) in front of
 * anything it still holds: whoever reads the socket next, a Reader or a TLS handshake, gets them
 * first and in order.
 */
class ProxyHeaderRead {
  private state: ReadState = 'reading';
  private readonly queue = new ByteQueue();

  constructor(
    private readonly socket: ReadSocket,
    private readonly owner: ProxyHeaderReads,
    private readonly done: HeaderRead,
    /** When the header must be complete, on the owner's scheduler. */
    readonly deadline: number,
  ) {}

  start(): void {
    const { socket } = this;
    socket[SOCKET_SLOT] = this;
    socket.on('data', onHeaderData);
    socket.on('end', onHeaderEnd);
    socket.on('error', onHeaderError);
    socket.on('close', onHeaderEnd);
    // Accepted paused (pauseOnConnect), it would not read by itself.
    socket.resume();
  }

  data(chunk: Buffer): void {
    if (this.state !== 'reading') return;
    this.queue.push(chunk);
    let proxy: ProxyInfo | null;
    try {
      const header = readProxyHeader(this.queue, this.owner.accept);
      if (header === undefined) return;
      proxy = header.proxy;
    } catch (error) {
      this.reject(
        error instanceof ProxyProtocolError
          ? error
          : new ProxyProtocolError('the header could not be read', { cause: error }),
      );
      return;
    }
    this.handOn(proxy);
  }

  /** The deadline passed. */
  timedOut(): void {
    this.reject(new ProxyProtocolError(`no complete header within ${this.owner.timeout} ms`));
  }

  /** reading → read: the socket goes on paused, the bytes after the header back in it. */
  private handOn(proxy: ProxyInfo | null): void {
    this.leave('read');
    const { socket, queue } = this;
    // Paused before the rest is put back: flowing, the socket would emit it at once, to nobody.
    socket.pause();
    if (queue.length > 0) socket.unshift(queue.takeAll());
    // Until its reader is wired, a socket waiting for a slot may still fail: never uncaught.
    socket.on('error', ignoreWhileWaiting);
    this.done(socket, proxy);
  }

  /** reading → rejected: the peer's fault, told to the owner while the socket's address is known. */
  reject(error: ProxyProtocolError): void {
    if (this.state !== 'reading') return;
    this.leave('rejected');
    this.queue.clear();
    this.socket.on('error', ignoreWhileWaiting);
    try {
      this.owner.rejected(this.socket, error);
    } finally {
      this.socket.destroy();
    }
  }

  /** reading → cancelled: the listening stopped. */
  cancel(): void {
    if (this.state !== 'reading') return;
    this.leave('cancelled');
    this.queue.clear();
    this.socket.on('error', ignoreWhileWaiting);
    this.socket.destroy();
  }

  /** Leaves `reading`: no more events, no place among the reads under way. */
  private leave(state: Exclude<ReadState, 'reading'>): void {
    this.state = state;
    const { socket } = this;
    socket.off('data', onHeaderData);
    socket.off('end', onHeaderEnd);
    socket.off('error', onHeaderError);
    socket.off('close', onHeaderEnd);
    // Free for the socket's transport, which takes the slot next.
    socket[SOCKET_SLOT] = undefined;
    this.owner.ended(this);
  }
}

/**
 * The `error` listener of a socket once its header read is over, until its Reader is wired (while
 * it waits for a slot) or for good (refused, destroyed): a failure meanwhile must not be an
 * uncaught `error`; the Reader sees it once wired, the socket being destroyed by then.
 */
export function ignoreWhileWaiting(): void {}
