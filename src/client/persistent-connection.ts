import {
  asyncScheduler,
  from,
  Observable,
  type ObservableInput,
  type SchedulerLike,
  type Subscriber,
  Subscription,
  type TeardownLogic,
  take,
} from 'rxjs';
import type { Address } from '../address';
import { Connection, checkConnectionOptions } from '../connection';
import type { Socket } from '../node/socket';
import { socketTransport } from '../node/socket-transport';
import { CLOSE_AFTER_USE } from '../stream/force-close';
import { describe } from '../validate';
import { toHostAndPort, WhereToConnect } from '../where-to-connect';
import { Backoff, type RetryOptions } from './backoff';
import type { ConnectOptions } from './connect';
import { connectWith } from './connect-sock';

const CALLER = 'persistentConnection';

/** What `persistentConnection` tells `onEvent`. */
export interface PersistentConnectionEvent {
  /**
   * - `connecting`: an attempt starts, to `address` (once a `where` function gave it);
   * - `connected`: it succeeded, and the connection is emitted next;
   * - `disconnected`: the emitted connection ended (FIN, reset or close); the library closes its
   *   side and makes the next attempt after `delay`;
   * - `retrying`: an attempt failed with `error`; the next one is made after `delay`.
   */
  type: 'connecting' | 'connected' | 'disconnected' | 'retrying';
  /** The attempt, counted from 1 among consecutive attempts: back to 1 after each connection. */
  attempt: number;
  /** `retrying` and `disconnected`: milliseconds until the next attempt. */
  delay?: number;
  /** `retrying`: why the attempt failed. */
  error?: unknown;
  /** Where the attempt went (`host:port` or a path); absent when a `where` function failed. */
  address?: string;
}

/** Options of {@link persistentConnection}: those of `connect`, for each attempt, and these. */
export interface PersistentConnectionOptions extends ConnectOptions {
  /**
   * When to try again: `initialDelay` (default `100`), `maxDelay` (default `30_000`), `factor`
   * (default `2`), `jitter` (default `true`), `maxAttempts` (default `Infinity`), `random`
   * (default `Math.random`). A partial object takes the defaults for the rest.
   */
  retry?: RetryOptions;
  /**
   * Called with each {@link PersistentConnectionEvent}, in order. If it throws, the Observable
   * errors with what it threw and the current connection is closed. Default: none.
   */
  onEvent?: (event: PersistentConnectionEvent) => void;
}

/** Where `persistentConnection` connects: one address, or a function asked before each attempt. */
export type WhereToReconnect<A extends Address> =
  | WhereToConnect<A>
  | (() => ObservableInput<WhereToConnect<A>>);

/** @internal What the machine itself needs of the options. */
export type MachineOptions = Pick<PersistentConnectionOptions, 'retry' | 'onEvent' | 'scheduler'>;

/**
 * Stays connected: emits a connection, and when it ends connects again and emits the new one.
 *
 * Async's `Persistent_connection`. Cold: on subscribe it connects and emits the connection. When
 * that connection ends — the peer's FIN, a reset, or its socket closing for any reason — the
 * library closes its side (flush, FIN) and connects again: an Observable of connections, one at a
 * time, that never completes. A failed attempt is tried again after a wait: `initialDelay`, then
 * `factor` times the last, capped at `maxDelay`; with `jitter`, each wait is drawn uniformly from
 * [delay/2, delay]. After a connection was made and then ended, the next attempt waits
 * `initialDelay` (also jittered). `maxAttempts` bounds the failed attempts in a row: after the last
 * one the Observable errors at once with its error.
 *
 * `where` is a `WhereToConnect`, or a function returning an `ObservableInput` of one (its first
 * value is taken), asked before each attempt: a way to fail over. Its throw or error notification
 * is a failed attempt, like a refused connect.
 *
 * The library owns each connection it emitted: it closes its side (flushed, then FIN) once the
 * peer is done, and when the subscription ends, after which no attempt starts; unsubscribing
 * during an attempt cancels it. So taking one connection (`take(1)`, `firstValueFrom`) closes it
 * at once: use `connect` for that. `connection.destroy()` forces a reconnect. Every wait runs on
 * `scheduler`, so reconnects can be tested in virtual time. The reader of a connection that reset
 * errors: catch that inside the `switchMap`, or the error ends the subscription, and with it the
 * reconnecting.
 *
 * ```ts
 * import { catchError, EMPTY, switchMap } from 'rxjs';
 * import { persistentConnection, toHostAndPort } from 'rx-tcp';
 *
 * persistentConnection(toHostAndPort('127.0.0.1', 7000), {
 *   retry: { initialDelay: 200, maxDelay: 10_000 },
 *   onEvent: (e) => console.log(e.type, e.attempt, e.address ?? '', e.delay ?? ''),
 * })
 *   .pipe(switchMap(({ reader }) => reader.lines().pipe(catchError(() => EMPTY))))
 *   .subscribe((line) => console.log(line));
 * ```
 * @param where A `WhereToConnect`, or a function returning an `ObservableInput<WhereToConnect>`.
 * @param options `retry` (see {@link RetryOptions}: `initialDelay` default `100`, `maxDelay` default
 *   `30_000`, `factor` default `2`, `jitter` default `true`, `maxAttempts` default `Infinity`,
 *   `random` default `Math.random`), `onEvent`, and `connect`'s options for each attempt: `timeout`
 *   (default `30_000`), `interrupt`, `readerBufferSize`, `bufferAgeLimit`, `tls`, `scheduler` (also
 *   runs the waits; default `asyncScheduler`).
 */
export function persistentConnection<A extends Address>(
  where: WhereToReconnect<A>,
  options: PersistentConnectionOptions = {},
): Observable<Connection<A>> {
  checkWhere(where);
  const { retry, onEvent, ...connectOptions } = options;
  checkConnectionOptions(CALLER, connectOptions);
  const wrap = (socket: Socket<A>) =>
    new Connection(socket, socketTransport(socket.nodeSocket), connectOptions);
  // connectWith checks the options at its call: made now, for the one address (and then reused by
  // every attempt) or for a stand-in, a bad option throws here rather than fail every attempt.
  const fixed = connectWith(
    CALLER,
    where instanceof WhereToConnect ? where : (toHostAndPort('127.0.0.1', 1) as WhereToConnect<A>),
    connectOptions,
    wrap,
  );
  const attempt =
    where instanceof WhereToConnect
      ? () => fixed
      : (to: WhereToConnect<A>) => connectWith(CALLER, to, connectOptions, wrap);
  return persistentConnectionsOf(where, attempt, { retry, onEvent, scheduler: options.scheduler });
}

/**
 * @internal {@link persistentConnection} with `attempt` making each connection: `connect`, or in
 * a test a function handing out in-memory connections. Checks `where` and the options at the call.
 */
export function persistentConnectionsOf<A extends Address>(
  where: WhereToReconnect<A>,
  attempt: (where: WhereToConnect<A>) => Observable<Connection<A>>,
  options: MachineOptions = {},
): Observable<Connection<A>> {
  checkWhere(where);
  const { retry, onEvent, scheduler = asyncScheduler } = options;
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    throw new TypeError(`${CALLER}: onEvent must be a function, got ${describe(onEvent)}`);
  }
  const spec: MachineSpec<A> = { where, attempt, backoff: new Backoff(CALLER, retry), onEvent, scheduler };
  return new Observable<Connection<A>>((subscriber) => new Machine(spec, subscriber).start());
}

function checkWhere(where: unknown): void {
  if (!(where instanceof WhereToConnect) && typeof where !== 'function') {
    throw new TypeError(
      `${CALLER}: where must be a WhereToConnect (from toHostAndPort, toFile, …) or a function returning one, got ${describe(where)}`,
    );
  }
}

/** What every subscription of one `persistentConnection` shares. */
interface MachineSpec<A extends Address> {
  where: WhereToReconnect<A>;
  attempt: (where: WhereToConnect<A>) => Observable<Connection<A>>;
  backoff: Backoff;
  onEvent: ((event: PersistentConnectionEvent) => void) | undefined;
  scheduler: SchedulerLike;
}

/**
 * The states of one subscription: `waiting` for the next attempt (a timer), `connecting` (an
 * attempt under way), `connected` (a connection emitted, its peer watched), `closed` (for good).
 */
type State = 'waiting' | 'connecting' | 'connected' | 'closed';

/** What moves the machine; each is handled in {@link Machine.handle}. */
type Input<A extends Address> =
  /** waiting → connecting: the wait is over. */
  | { type: 'due' }
  /** connecting → connected: the attempt gave a connection. */
  | { type: 'connected'; connection: Connection<A> }
  /** connecting → waiting, or closed after the last attempt allowed: the attempt failed. */
  | { type: 'failed'; error: unknown }
  /** connected → waiting: the connection's peer is done. */
  | { type: 'ended' }
  /** any → closed: unsubscribed, or (with `error`) a callback of the user threw. */
  | { type: 'stop'; error?: { error: unknown } };

/** One subscription's connections, one at a time. */
class Machine<A extends Address> {
  private state: State = 'waiting';
  /** Attempts in a row so far, the one under way included; 0 once connected. */
  private attempt = 0;
  /** The attempt that made the current connection. */
  private connectedAttempt = 0;
  /** Where the current attempt went, or the current connection is. */
  private address: string | undefined;
  /** `waiting`: the timer. */
  private timer: Subscription | undefined;
  /** `connecting`: the attempt (the `where` function's and the connect's subscriptions). */
  private trying: Subscription | undefined;
  /** `connected`: the connection emitted, and the watch on its peer. */
  private connection: Connection<A> | undefined;
  private watch: Subscription | undefined;

  constructor(
    private readonly spec: MachineSpec<A>,
    private readonly subscriber: Subscriber<Connection<A>>,
  ) {}

  /** The first attempt, at once; returns the subscription's teardown. */
  start(): TeardownLogic {
    this.handle({ type: 'due' });
    return () => this.handle({ type: 'stop' });
  }

  /** Every transition. Callbacks of a state already left never get here (see `trying`, `timer`). */
  private handle(input: Input<A>): void {
    const { state } = this;
    if (state === 'closed') return;
    switch (input.type) {
      case 'due':
        if (state !== 'waiting') return;
        this.leave('connecting');
        this.attempt++;
        this.address = undefined;
        this.dial();
        return;
      case 'connected': {
        if (state !== 'connecting') return;
        const { connection } = input;
        this.leave('connected');
        this.connection = connection;
        this.connectedAttempt = this.attempt;
        this.attempt = 0;
        if (!this.tell({ type: 'connected', attempt: this.connectedAttempt, address: this.address })) return;
        this.subscriber.next(connection);
        if (this.connection === connection) this.watchPeer(connection);
        return;
      }
      case 'failed':
        if (state !== 'connecting') return;
        if (this.attempt >= this.spec.backoff.maxAttempts) {
          this.leave('closed');
          this.subscriber.error(input.error);
          return;
        }
        this.leave('waiting');
        this.waitThenTell(this.attempt, {
          type: 'retrying',
          attempt: this.attempt,
          error: input.error,
          address: this.address,
        });
        return;
      case 'ended':
        if (state !== 'connected') return;
        this.leave('waiting');
        this.waitThenTell(1, { type: 'disconnected', attempt: this.connectedAttempt, address: this.address });
        return;
      case 'stop':
        this.leave('closed');
        if (input.error !== undefined) this.subscriber.error(input.error.error);
        return;
    }
  }

  /** Undoes what the state being left holds, and enters `next`. */
  private leave(next: State): void {
    this.state = next;
    const { timer, trying, watch, connection } = this;
    this.timer = this.trying = this.watch = this.connection = undefined;
    timer?.unsubscribe();
    trying?.unsubscribe();
    watch?.unsubscribe();
    if (connection !== undefined) release(connection);
  }

  /** Starts the current attempt: asks `where` if it is a function, then connects. */
  private dial(): void {
    const trying = new Subscription();
    this.trying = trying;
    const { where } = this.spec;
    if (where instanceof WhereToConnect) {
      this.dialTo(trying, where);
      return;
    }
    let found = false;
    try {
      // added to `trying`, which a synchronous failure may have closed already: then it is
      // unsubscribed at once
      trying.add(
        from(where())
          .pipe(take(1))
          .subscribe({
            next: (to) => {
              found = true;
              this.dialTo(trying, to);
            },
            error: (error) => this.fail(trying, error),
            complete: () => {
              if (!found) this.fail(trying, new Error(`${CALLER}: where completed without a WhereToConnect`));
            },
          }),
      );
    } catch (error) {
      this.fail(trying, error);
    }
  }

  private dialTo(trying: Subscription, to: WhereToConnect<A>): void {
    if (this.trying !== trying) return;
    this.address = to instanceof WhereToConnect ? to.toString() : undefined;
    if (!this.tell({ type: 'connecting', attempt: this.attempt, address: this.address })) return;
    let connection$: Observable<Connection<A>>;
    try {
      connection$ = this.spec.attempt(to);
    } catch (error) {
      this.fail(trying, error);
      return;
    }
    let made = false;
    trying.add(
      connection$.subscribe({
        next: (connection) => {
          made = true;
          if (this.trying === trying) this.handle({ type: 'connected', connection });
          else release(connection);
        },
        error: (error) => this.fail(trying, error),
        complete: () => {
          if (!made) this.fail(trying, new Error(`${CALLER}: the attempt completed without a connection`));
        },
      }),
    );
  }

  private fail(trying: Subscription, error: unknown): void {
    if (this.trying === trying) this.handle({ type: 'failed', error });
  }

  /** Waits for the connection's peer to be done; that may have happened already. */
  private watchPeer(connection: Connection<A>): void {
    const ended = () => {
      if (this.connection === connection) this.handle({ type: 'ended' });
    };
    const watch = connection.peerDone.subscribe({ complete: ended, error: ended });
    if (this.connection === connection) this.watch = watch;
    else watch.unsubscribe();
  }

  /** In `waiting`: draws the `n`th wait of the run, tells `event` with it, and starts the timer. */
  private waitThenTell(n: number, event: PersistentConnectionEvent): void {
    let delay: number;
    try {
      delay = this.spec.backoff.wait(n); // the user's random source may throw
    } catch (error) {
      this.handle({ type: 'stop', error: { error } });
      return;
    }
    if (!this.tell({ ...event, delay })) return;
    const timer = new Subscription();
    this.timer = timer;
    // added to `timer`: a scheduler running the task at once has left `waiting` by then
    timer.add(
      this.spec.scheduler.schedule(() => {
        if (this.timer === timer) this.handle({ type: 'due' });
      }, delay),
    );
  }

  /**
   * Calls `onEvent`; a throw stops the machine with that error. True if the machine is still
   * running (`onEvent` may also have unsubscribed).
   */
  private tell(event: PersistentConnectionEvent): boolean {
    const { onEvent } = this.spec;
    if (onEvent !== undefined) {
      try {
        onEvent(event);
      } catch (error) {
        this.handle({ type: 'stop', error: { error } });
        return false;
      }
    }
    return this.state !== 'closed';
  }
}

/** Closes a connection the library owns: flush and FIN (forced after 30 s), or at once if it failed. */
function release(connection: Connection): void {
  connection.release(CLOSE_AFTER_USE).subscribe({ error: () => {} });
}
