import { connect } from './connect';
import { connectSock } from './connect-sock';
import { listen } from './listen';
import { Server } from './server';
import { toFile, toHostAndPort, toInetAddress, toUnixAddress } from './where-to-connect';
import { onFile, onPort, onPortChosenByOs, WhereToListen } from './where-to-listen';
import { withConnection } from './with-connection';

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
  toHostAndPort,
  toInetAddress,
  toFile,
  toUnixAddress,
  connectSock,
  connect,
  withConnection,
  onPort,
  onPortChosenByOs,
  onFile,
  WhereToListen,
  listen,
  Server,
} as const;
