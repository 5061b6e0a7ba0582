import { asapScheduler } from 'rxjs';
import type { Address, InetAddress } from '../address';
import { type Connection, type ConnectionOptions, checkConnectionOptions } from '../connection';
import { checkNumber } from '../validate';
import { checkAddresses, DEFAULT_MEMORY_ADDRESSES, memoryConnection } from './memory-connection';
import { memoryTransportPair } from './memory-transport';

/** Options of {@link connectionPair}. */
export interface ConnectionPairOptions<A extends Address = InetAddress> extends ConnectionOptions {
  /**
   * How many bytes each direction holds in flight, like the kernel buffers of a socket: once a
   * paused reader leaves this many unread, further writes wait in the writer (`bytesToWrite`,
   * `flushed()`, buffer-age limit). Default `65_536` (64 KiB).
   */
  windowSize?: number;
  /**
   * The addresses of the two ends: the first connection is at `addresses[0]` and talks to
   * `addresses[1]`, the second the other way round. Nothing listens there. Default
   * `127.0.0.1:49152` and `127.0.0.1:49153`.
   */
  addresses?: readonly [A, A];
}

/** The default of `ConnectionPairOptions.windowSize` and `MarbleConnectionOptions.windowSize`. */
export const DEFAULT_WINDOW_SIZE = 64 * 1024;

/**
 * Two connected in-memory connections: what one writes, the other reads. No socket, no port.
 *
 * Each is a real `Connection`, with the very Reader and Writer of a TCP connection over an
 * in-memory transport that models one: flow control (a paused reader fills a `windowSize` window,
 * then writes wait in the writer, so `flushed()`, `bytesToWrite` and `bufferAgeLimit` behave as on
 * a socket), half-close (`writer.close()` sends FIN, the reader goes on), close, and resets
 * (`destroy()` reaches the peer as an `ECONNRESET` error, after the bytes sent before it). A server
 * handler or client code therefore behaves the same on a pair as on a socket.
 *
 * Deliveries are scheduled on `scheduler` (by default `asapScheduler`), never on a Promise or
 * `process.nextTick`: inside `TestScheduler.run` the pair runs in virtual time, every delivery at
 * the frame its bytes were flushed, and the order of events is always the same.
 *
 * Each connection's `socket` has the addresses of `addresses`; its `nodeSocket` is a `net.Socket`
 * that is never connected, so socket options set on it change nothing.
 *
 * ```ts
 * import { lastValueFrom, toArray } from 'rxjs';
 * import { connectionPair } from 'rx-tcp/testing';
 *
 * const [client, server] = connectionPair();
 * server.reader.transfer(server.writer).subscribe({ complete: () => server.close().subscribe() }); // echo
 * client.writer.writeLine('hello');
 * client.writer.close(); // FIN: the echo completes, and the server closes its side
 * console.log(await lastValueFrom(client.reader.lines().pipe(toArray()))); // [ 'hello' ]
 * ```
 * @param options `windowSize` (default 64 KiB), `addresses` (default `127.0.0.1:49152` and
 *   `127.0.0.1:49153`), and for both connections `readerBufferSize` (default 128 KiB),
 *   `bufferAgeLimit` (default `120_000` ms) and `scheduler`, which runs their timers and the
 *   deliveries (default: `asyncScheduler` for timers, `asapScheduler` for deliveries).
 */
export function connectionPair<A extends Address = InetAddress>(
  options: ConnectionPairOptions<A> = {},
): [Connection<A>, Connection<A>] {
  checkConnectionOptions('connectionPair', options);
  const {
    windowSize = DEFAULT_WINDOW_SIZE,
    addresses = DEFAULT_MEMORY_ADDRESSES as unknown as readonly [A, A],
    scheduler = asapScheduler,
  } = options;
  checkNumber('connectionPair', 'windowSize', windowSize, 1, true);
  checkAddresses('connectionPair', addresses);
  const [a, b] = memoryTransportPair(windowSize, scheduler);
  return [
    memoryConnection(a, addresses[0], addresses[1], options),
    memoryConnection(b, addresses[1], addresses[0], options),
  ];
}
