// client/: opening connections (connectSock, connect, withConnection) and timing their attempts.
// May import the top-level basics (errors, address, validate, where-to-connect, connection),
// stream/, node/ and rxjs; never server/ or testing/.
import type { Observable } from 'rxjs';
import type { Address } from '../address';
import { Connection, type ConnectionOptions, checkConnectionOptions } from '../connection';
import { socketTransport } from '../node/socket-transport';
import type { WhereToConnect } from '../where-to-connect';
import { type ConnectSockOptions, connectWith } from './connect-sock';

/** Options of {@link connect} and {@link withConnection}. */
export interface ConnectOptions extends ConnectSockOptions, ConnectionOptions {}

/**
 * Opens a connection and emits it, with its reader and writer, once connected; then completes.
 *
 * Cold, raced against `timeout` and `interrupt`, and aborted by an early unsubscribe, exactly as
 * {@link connectSock}. Once emitted, the connection is the caller's: close the writer first (it
 * flushes and sends FIN), then the reader — or call `connection.close()`, or use
 * {@link withConnection}, which does it for you.
 *
 * ```ts
 * import { firstValueFrom } from 'rxjs';
 * import { connect, toHostAndPort } from 'rx-tcp';
 *
 * const { reader, writer } = await firstValueFrom(connect(toHostAndPort('127.0.0.1', 7), { timeout: 5000 }));
 * writer.writeLine('ping');
 * console.log(await firstValueFrom(reader.readLine()));
 * await firstValueFrom(writer.close());
 * await firstValueFrom(reader.close());
 * ```
 * @param where From `toHostAndPort`, `toInetAddress`, `toFile` or `toUnixAddress`.
 * @param options `timeout` (default `30_000` ms), `interrupt`, `readerBufferSize` (default 128 KiB),
 *   `bufferAgeLimit` (default `120_000` ms), `tls`, `scheduler` (default `asyncScheduler`).
 */
export function connect<A extends Address>(
  where: WhereToConnect<A>,
  options: ConnectOptions = {},
): Observable<Connection<A>> {
  checkConnectionOptions('connect', options);
  return connectWith(
    'connect',
    where,
    options,
    (socket) => new Connection(socket, socketTransport(socket.nodeSocket), options),
  );
}
