import { connect } from './client/connect';
import { connectSock } from './client/connect-sock';
import { ConnectionPool } from './client/connection-pool';
import { persistentConnection } from './client/persistent-connection';
import { withConnection } from './client/with-connection';
import { listen } from './server/listen';
import { Server } from './server/server';
import { toFile, toHostAndPort, toInetAddress, toUnixAddress } from './where-to-connect';
import { onFile, onPort, onPortChosenByOs, WhereToListen } from './where-to-listen';

/**
 * Async's `Tcp` module under one name, for code that reads like Async's: `Tcp.connect(...)`,
 * `Tcp.toHostAndPort(...)`. Every member is also exported on its own.
 *
 * ```ts
 * import { Tcp } from 'rx-tcp';
 *
 * Tcp.withConnection(Tcp.toHostAndPort('127.0.0.1', 8080), ({ writer }) => {
 *   writer.writeLine('hello');
 *   return [];
 * }).subscribe();
 * ```
 */
export const Tcp = {
  /** Connect to a host and port: see {@link toHostAndPort}. */
  toHostAndPort,
  /** Connect to an IP address: see {@link toInetAddress}. */
  toInetAddress,
  /** Connect to a Unix socket: see {@link toFile}. */
  toFile,
  /** Connect to a `UnixAddress`: see {@link toUnixAddress}. */
  toUnixAddress,
  /** See {@link connectSock}. */
  connectSock,
  /** See {@link connect}. */
  connect,
  /** See {@link withConnection}. */
  withConnection,
  /** See {@link persistentConnection}. */
  persistentConnection,
  /** See {@link ConnectionPool}. */
  ConnectionPool,
  /** See {@link onPort}. */
  onPort,
  /** See {@link onPortChosenByOs}. */
  onPortChosenByOs,
  /** See {@link onFile}. */
  onFile,
  /** See {@link WhereToListen}. */
  WhereToListen,
  /** See {@link listen}. */
  listen,
  /** See {@link Server}. */
  Server,
} as const;
