import type * as net from 'node:net';
import type * as tls from 'node:tls';
import {
  asyncScheduler,
  from,
  Observable,
  type ObservableInput,
  type SchedulerAction,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
  type TeardownLogic,
} from 'rxjs';
import type { Address, UnixAddress } from '../address';
import { ConnectInterruptedError, ConnectTimeoutError } from '../errors';
import { openSocket } from '../node/open-socket';
import { Socket } from '../node/socket';
import { onSocketError, SOCKET_SLOT } from '../node/socket-transport';
import { checkTimerDelay, describe } from '../validate';
import { WhereToConnect } from '../where-to-connect';
import { type DeadlineQueue, type Due, deadlineQueue } from './deadline-queue';

/** Options of {@link connectSock}. */
export interface ConnectSockOptions {
  /**
   * Milliseconds the whole attempt may take, DNS look-up and TLS handshake included; then it fails
   * with a `ConnectTimeoutError`. `Infinity` for none. Default `30_000`.
   */
  timeout?: number;
  /**
   * Cancels the attempt with a `ConnectInterruptedError`: an `ObservableInput` at its first value,
   * or an `AbortSignal` at its abort. Has no effect once connected. Default: none.
   */
  interrupt?: ObservableInput<unknown> | AbortSignal;
  /**
   * Connect with TLS: Node's `tls.ConnectionOptions`, or `true` for the defaults (the system's
   * trusted CAs; SNI from the host name of `toHostAndPort`). Default: plain TCP.
   */
  tls?: tls.ConnectionOptions | true;
  /**
   * Runs the timeout. On a real-time scheduler the attempts waiting share one timer, which does
   * not keep the process alive by itself (each attempt's socket does); on a virtual one
   * (`TestScheduler`) each attempt is timed by itself. Default `asyncScheduler`.
   */
  scheduler?: SchedulerLike;
}

/** The default of `ConnectSockOptions.timeout`. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000;

/**
 * Opens a connection and emits its {@link Socket} once connected, then completes.
 *
 * Cold: each subscription makes one new attempt, and nothing happens before subscribing. The
 * attempt races a timeout (run by `scheduler`) and the `interrupt` notifier; where both fire at
 * once, the timeout wins. Unsubscribing before the socket is emitted aborts the attempt and
 * releases the socket; afterwards the socket is yours to close. Failures are error notifications:
 * `ConnectTimeoutError`, `ConnectInterruptedError`, or Node's own error (`ECONNREFUSED`,
 * `ENOTFOUND`, …) with its `code`.
 *
 * ```ts
 * import { connectSock, toHostAndPort } from 'rx-tcp';
 *
 * connectSock(toHostAndPort('localhost', 8080), { timeout: 2000 }).subscribe({
 *   next: (socket) => socket.nodeSocket.end('hello\n'),
 *   error: (error) => console.error(error.code, error.message),
 * });
 * ```
 * @param where From `toHostAndPort`, `toInetAddress`, `toFile` or `toUnixAddress`.
 * @param options `timeout` (default `30_000`), `interrupt`, `tls`, `scheduler` (default `asyncScheduler`).
 */
export function connectSock<A extends Address>(
  where: WhereToConnect<A>,
  options: ConnectSockOptions = {},
): Observable<Socket<A>> {
  return connectWith('connectSock', where, options, (socket) => socket);
}

/** @internal `connectSock`, with `wrap` applied to the socket (which has no listener of ours) before it is emitted. */
export function connectWith<A extends Address, T>(
  caller: string,
  where: WhereToConnect<A>,
  options: ConnectSockOptions,
  wrap: (socket: Socket<A>) => T,
): Observable<T> {
  if (!(where instanceof WhereToConnect)) {
    throw new TypeError(
      `${caller}: expected a WhereToConnect from toHostAndPort, toFile, …, got ${describe(where)}`,
    );
  }
  const {
    timeout = DEFAULT_CONNECT_TIMEOUT,
    interrupt,
    tls: tlsOptions,
    scheduler = asyncScheduler,
  } = options;
  if (timeout !== Number.POSITIVE_INFINITY) checkTimerDelay(caller, 'timeout', timeout);
  const signal = interrupt instanceof AbortSignal ? interrupt : undefined;
  // from() rejects what is not an ObservableInput at once, so a bad interrupt fails at the call.
  const interrupt$ =
    interrupt === undefined || signal !== undefined ? undefined : from(interrupt as ObservableInput<unknown>);
  if (
    tlsOptions !== undefined &&
    tlsOptions !== true &&
    (typeof tlsOptions !== 'object' || tlsOptions === null)
  ) {
    throw new TypeError(`${caller}: tls must be true or tls.ConnectionOptions, got ${describe(tlsOptions)}`);
  }

  const spec: AttemptSpec<A, T> = {
    where,
    timeout,
    signal,
    interrupt$,
    tlsOptions,
    scheduler,
    wrap,
    connectEvent: tlsOptions === undefined ? 'connect' : 'secureConnect',
  };
  return new ConnectObservable(spec);
}

/** What every attempt of one `connectWith` call shares. */
interface AttemptSpec<A extends Address, T> {
  where: WhereToConnect<A>;
  timeout: number;
  signal: AbortSignal | undefined;
  interrupt$: Observable<unknown> | undefined;
  tlsOptions: tls.ConnectionOptions | true | undefined;
  scheduler: SchedulerLike;
  wrap: (socket: Socket<A>) => T;
  connectEvent: 'connect' | 'secureConnect';
}

/** Cold: each subscription is one {@link Attempt}. */
class ConnectObservable<A extends Address, T> extends Observable<T> {
  constructor(private readonly spec: AttemptSpec<A, T>) {
    super();
  }

  protected _subscribe(subscriber: Subscriber<T>): TeardownLogic {
    return new Attempt(this.spec, subscriber).start();
  }
}

type AttemptSocket = net.Socket & { [SOCKET_SLOT]?: unknown };

// Shared by every attempt (Node calls them with the socket as `this`): no closures per attempt.
function onAttemptConnect(this: AttemptSocket): void {
  (this[SOCKET_SLOT] as AttemptEvents | undefined)?.connected();
}

/** The part of an attempt the shared handlers call. */
interface AttemptEvents {
  connected(): void;
  /** The socket's `error` ({@link onSocketError}). */
  onError(error: Error): void;
  expired(): void;
}

function timeoutTask(this: SchedulerAction<AttemptEvents>, attempt?: AttemptEvents): void {
  attempt!.expired();
}

/** What waits on an `AbortSignal`: an attempt. */
interface AbortWaiter {
  aborted(): void;
}

/**
 * The attempts waiting on one `AbortSignal`, behind one listener of that signal. A signal is
 * commonly shared by many attempts (one per request, say): with a listener each, Node would print
 * `MaxListenersExceededWarning` past 10 attempts for what is no leak, and raising the signal's
 * limit (`events.setMaxListeners`) would hide a real leak of the caller's own listeners too.
 * The listener is added with the first attempt and removed with the last, so that a long-lived
 * signal keeps nothing of attempts that have ended. Attempts without a signal never come here.
 */
class AbortWaiters {
  private static readonly bySignal = new WeakMap<AbortSignal, AbortWaiters>();
  private readonly waiters = new Set<AbortWaiter>();

  private constructor(private readonly signal: AbortSignal) {}

  static add(signal: AbortSignal, waiter: AbortWaiter): void {
    let waiters = AbortWaiters.bySignal.get(signal);
    if (waiters === undefined) {
      waiters = new AbortWaiters(signal);
      AbortWaiters.bySignal.set(signal, waiters);
      signal.addEventListener('abort', waiters, { once: true });
    }
    waiters.waiters.add(waiter);
  }

  static remove(signal: AbortSignal, waiter: AbortWaiter): void {
    const waiters = AbortWaiters.bySignal.get(signal);
    if (waiters === undefined || !waiters.waiters.delete(waiter) || waiters.waiters.size > 0) return;
    AbortWaiters.bySignal.delete(signal);
    signal.removeEventListener('abort', waiters);
  }

  /** The signal fired (`EventListener` interface): every attempt waiting is interrupted. */
  handleEvent(): void {
    AbortWaiters.bySignal.delete(this.signal);
    // A copy: each attempt interrupted removes itself, and its subscriber may start new ones
    // (which see the signal aborted and fail at once, without coming here).
    for (const waiter of Array.from(this.waiters)) waiter.aborted();
    this.waiters.clear();
  }
}

/**
 * One connection attempt: raced against its timeout and interrupt, torn down by an early
 * unsubscribe. An object with methods rather than a set of closures: a client making many
 * connections pays for every allocation and every first call of a fresh closure.
 */
class Attempt<A extends Address, T> implements AttemptEvents, AbortWaiter, Due {
  private socket: AttemptSocket | undefined;
  /** Times the attempt out: the scheduler's shared deadlines, or, where they cannot, a timer of its own. */
  private deadlines: DeadlineQueue | undefined;
  private timer: Subscription | undefined;
  private interruption: Subscription | undefined;
  private done = false;
  readonly deadline: number;
  older: Due | undefined;
  newer: Due | undefined;

  constructor(
    private readonly spec: AttemptSpec<A, T>,
    private readonly subscriber: Subscriber<T>,
  ) {
    this.deadline = spec.scheduler.now() + spec.timeout;
  }

  start(): TeardownLogic {
    const { where, timeout, signal, interrupt$, tlsOptions, scheduler, connectEvent } = this.spec;
    if (timeout !== Number.POSITIVE_INFINITY) {
      const deadlines = deadlineQueue(scheduler);
      if (deadlines?.add(this)) this.deadlines = deadlines;
      else this.timer = scheduler.schedule<AttemptEvents>(timeoutTask, timeout, this);
    }
    if (signal?.aborted) {
      this.interrupted(signal.reason);
      return undefined;
    }
    if (signal !== undefined) AbortWaiters.add(signal, this);
    if (interrupt$ !== undefined) {
      this.interruption = interrupt$.subscribe({
        next: () => this.interrupted(),
        error: (error) => this.fail(error),
      });
    }
    if (this.done) return undefined;

    const socket: AttemptSocket = openSocket(where, tlsOptions);
    this.socket = socket;
    socket[SOCKET_SLOT] = this;
    socket.on(connectEvent, onAttemptConnect);
    socket.on('error', onSocketError);
    return this;
  }

  /** The `AbortSignal` fired ({@link AbortWaiters}). */
  aborted(): void {
    this.interrupted(this.spec.signal?.reason);
  }

  /** The subscription ended before the attempt did. */
  unsubscribe(): void {
    if (this.done) return;
    this.finish();
    this.socket?.destroy();
  }

  /** The deadline is reached: the attempt timed out. */
  expired(): void {
    const { where, timeout } = this.spec;
    this.fail(new ConnectTimeoutError(where.toString(), timeout));
  }

  onError(error: Error): void {
    this.fail(error);
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.finish();
    this.socket?.destroy();
    this.subscriber.error(error);
  }

  connected(): void {
    if (this.done) return;
    const { where, tlsOptions, wrap } = this.spec;
    this.finish();
    const connected = this.socket!;
    // tls.connect ignores the noDelay option, unlike net.connect.
    if (tlsOptions !== undefined) connected.setNoDelay(true);
    // A Unix socket's peer is the path connected to (the OS reports none); our end is unnamed, as
    // Socket says by itself.
    const known =
      where.family === 'unix'
        ? { remote: { family: 'unix', path: where.toString() } as UnixAddress as A }
        : undefined;
    let value: T;
    try {
      value = wrap(new Socket<A>(connected, where.family, known));
    } catch (error) {
      connected.destroy();
      this.subscriber.error(error);
      return;
    }
    this.subscriber.next(value);
    this.subscriber.complete();
  }

  // Where the timeout is due as well, it wins: the caller asked for a bound and it was reached.
  private interrupted(cause?: unknown): void {
    const { where, timeout, scheduler } = this.spec;
    const text = where.toString();
    this.fail(
      scheduler.now() >= this.deadline
        ? new ConnectTimeoutError(text, timeout)
        : new ConnectInterruptedError(text, cause),
    );
  }

  /** The attempt is over: nothing of it is left on the socket. */
  private finish(): void {
    this.done = true;
    this.deadlines?.remove(this);
    this.timer?.unsubscribe();
    this.interruption?.unsubscribe();
    if (this.spec.signal !== undefined) AbortWaiters.remove(this.spec.signal, this);
    const { socket } = this;
    if (socket !== undefined) {
      socket.off(this.spec.connectEvent, onAttemptConnect);
      socket.off('error', onSocketError);
      socket[SOCKET_SLOT] = undefined;
    }
  }
}
