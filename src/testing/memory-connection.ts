import { asapScheduler } from 'rxjs';
import type { Address, InetAddress } from '../address';
import { Connection, type ConnectionInternals, type ConnectionOptions } from '../connection';
import { unconnectedSocket } from '../node/socket';
import type { Transport } from '../stream/transport';
import { describe } from '../validate';

/**
 * @internal The addresses of an in-memory pair made without `addresses`: two loopback ports in the
 * ephemeral range. Nothing listens there; they only make logs and handlers look as they would.
 */
export const DEFAULT_MEMORY_ADDRESSES: readonly [InetAddress, InetAddress] = [
  { family: 'inet', host: '127.0.0.1', port: 49152 },
  { family: 'inet', host: '127.0.0.1', port: 49153 },
];

/** @internal Throws unless `addresses` is two addresses of one family. */
export function checkAddresses(caller: string, addresses: unknown): void {
  const valid =
    Array.isArray(addresses) &&
    addresses.length === 2 &&
    addresses.every(
      (a) => typeof a === 'object' && a !== null && (a.family === 'inet' || a.family === 'unix'),
    ) &&
    addresses[0].family === addresses[1].family;
  if (!valid) {
    throw new TypeError(
      `${caller}: addresses must be two addresses of the same family, got ${describe(addresses)}`,
    );
  }
}

/**
 * @internal A `Connection` over an in-memory transport, at `local`, talking to `remote`.
 *
 * `Connection.socket` is a real `Socket` whose addresses are the ones given; its `nodeSocket` is a
 * `net.Socket` that is never connected (no descriptor, no port), so that code written against a
 * socket's type runs unchanged, while setting its options affects nothing. The Reader and Writer
 * are the ones of a real connection: only the transport beneath them differs. Its small writes are
 * flushed on the scheduler of the options, else on `asapScheduler`, as the in-memory transport
 * moves its bytes: both then run in virtual time inside `TestScheduler.run`.
 */
export function memoryConnection<A extends Address>(
  transport: Transport,
  local: A,
  remote: A,
  options: ConnectionOptions,
  internals?: ConnectionInternals,
): Connection<A> {
  const socket = unconnectedSocket(local, remote);
  const flushScheduler = options.scheduler ?? asapScheduler;
  return new Connection(socket, transport, options, { flushScheduler, ...internals });
}
