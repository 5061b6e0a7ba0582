import type { Observable } from 'rxjs';
import type { Address, InetAddress } from '../address';
import type { Handler } from '../server/handler-run';
import { Outcome } from '../stream/outcome';
import { describe } from '../validate';
import {
  type MarbleConnection,
  type MarbleConnectionOptions,
  type MarbleHelpers,
  marbleConnection,
} from './marble-connection';
import { serveConnection } from './serve-connection';

/** The result of {@link serveMarble}. */
export interface ServedMarble<A extends Address = InetAddress> extends MarbleConnection<A> {
  /**
   * Emits once and completes when the connection is closed after the handler ended, or errors,
   * after the close, with the handler's error. Hot, replaying.
   */
  readonly served: Observable<void>;
}

/**
 * Serves a marble-described peer with a `Server.create` handler, in virtual time inside
 * `TestScheduler.run`: the handler function a server runs is tested unchanged, without a socket.
 *
 * The peer sends what `marbles` says, as in {@link marbleConnection}; the handler is called at
 * once with the peer's address, the reader, the writer and the connection (`proxy` null, as
 * without a load balancer), and when its `ObservableInput` ends
 * the writer then the reader are closed, as `Server.create` does (see {@link serveConnection}).
 * `writes` shows what the handler answered and completes when the server side closed its writer.
 *
 * ```ts
 * import { TestScheduler } from 'rxjs/testing';
 * import { take, tap } from 'rxjs';
 * import type { Reader, Writer } from 'rx-tcp';
 * import { serveMarble } from 'rx-tcp/testing';
 *
 * // Greets, answers one line, and hangs up: the server closes the connection when it completes.
 * const handler = (_address: unknown, reader: Reader, writer: Writer) => {
 *   writer.writeLine('HELLO');
 *   return reader.lines().pipe(take(1), tap((line) => writer.writeLine(`you said ${line}`)));
 * };
 * new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run((helpers) => {
 *   const { writes, served } = serveMarble(helpers, handler, '--a', { a: 'hi\n' });
 *   helpers.expectObservable(writes).toBe('a-(b|)', { a: 'HELLO\n', b: 'you said hi\n' });
 *   helpers.expectObservable(served).toBe('--(x|)', { x: undefined });
 * });
 * ```
 * @param helpers The helpers `TestScheduler.run` gives its callback.
 * @param handler The handler, as given to `Server.create`.
 * @param marbles What the peer sends, as a cold marble diagram (`|` its FIN, `#` a reset).
 * @param values The strings or bytes the letters of `marbles` stand for. Default: the letters.
 * @param options As {@link marbleConnection}: `peerReads` (default `true`), `windowSize` (default
 *   64 KiB), `addresses`, `readerBufferSize` (default 128 KiB), `bufferAgeLimit` (default `120_000` ms).
 */
export function serveMarble<A extends Address = InetAddress>(
  helpers: MarbleHelpers,
  handler: Handler<A>,
  marbles: string,
  values?: Record<string, string | Uint8Array>,
  options?: MarbleConnectionOptions<A>,
): ServedMarble<A> {
  if (typeof handler !== 'function') {
    throw new TypeError(`serveMarble: handler must be a function, got ${describe(handler)}`);
  }
  const marble = marbleConnection(helpers, marbles, values, options);
  const served = new Outcome();
  serveConnection(marble.connection, handler).subscribe({
    complete: () => served.resolve(),
    error: (error) => served.reject(error),
  });
  return { ...marble, served: served.asObservable() };
}
