import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  asyncScheduler,
  from,
  Observable,
  type ObservableInput,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { Address, UnixAddress } from './address';
import { ConnectInterruptedError, ConnectTimeoutError } from './errors';
import { checkNumber, describe } from './internal/validate';
import { Socket } from './socket';
import { WhereToConnect } from './where-to-connect';

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
  /** Runs the timeout. Default `asyncScheduler`. */
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

/** @internal `connectSock`, with `wrap` applied to the socket before it is emitted. */
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
  if (timeout !== Number.POSITIVE_INFINITY) checkNumber(caller, 'timeout', timeout, 0);
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

  return new Observable<T>((subscriber) => {
    const text = where.toString();
    const deadline = scheduler.now() + timeout;
    let socket: net.Socket | undefined;
    let timer: Subscription | undefined;
    let interruption: Subscription | undefined;
    let done = false;

    const finish = () => {
      done = true;
      timer?.unsubscribe();
      interruption?.unsubscribe();
      signal?.removeEventListener('abort', onAbort);
      if (socket !== undefined) {
        socket.off(connectEvent, onConnect);
        socket.off('error', onError);
      }
    };
    const fail = (error: unknown) => {
      if (done) return;
      finish();
      socket?.destroy();
      subscriber.error(error);
    };
    // Where the timeout is due as well, it wins: the caller asked for a bound and it was reached.
    const interrupted = (cause?: unknown) =>
      fail(
        scheduler.now() >= deadline
          ? new ConnectTimeoutError(text, timeout)
          : new ConnectInterruptedError(text, cause),
      );
    const onAbort = () => interrupted(signal?.reason);
    const onError = (error: Error) => fail(error);
    const onConnect = () => {
      if (done) return;
      finish();
      const connected = socket!;
      // tls.connect ignores the noDelay option, unlike net.connect.
      if (tlsOptions !== undefined) connected.setNoDelay(true);
      const known: { local?: A; remote?: A } =
        where.family === 'unix'
          ? {
              local: { family: 'unix', path: '' } as UnixAddress as A,
              remote: { family: 'unix', path: where.toString() } as UnixAddress as A,
            }
          : {};
      let value: T;
      try {
        value = wrap(new Socket<A>(connected, where.family, known));
      } catch (error) {
        connected.destroy();
        subscriber.error(error);
        return;
      }
      subscriber.next(value);
      subscriber.complete();
    };

    if (timeout !== Number.POSITIVE_INFINITY) {
      timer = scheduler.schedule(() => fail(new ConnectTimeoutError(text, timeout)), timeout);
    }
    if (signal?.aborted) {
      interrupted(signal.reason);
      return undefined;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    interruption = interrupt$?.subscribe({ next: () => interrupted(), error: fail });
    if (done) return undefined;

    const connectEvent = tlsOptions === undefined ? 'connect' : 'secureConnect';
    if (tlsOptions === undefined) {
      socket = net.connect(where.netOptions);
    } else {
      const extra = tlsOptions === true ? {} : tlsOptions;
      // SNI carries host names only (RFC 6066); an IP literal is still checked against the certificate.
      const servername = net.isIP(where.serverName ?? '') === 0 ? where.serverName : undefined;
      socket = tls.connect({ servername, ...where.netOptions, ...extra });
    }
    socket.once(connectEvent, onConnect);
    socket.on('error', onError);

    return () => {
      if (done) return;
      finish();
      socket?.destroy();
    };
  });
}
