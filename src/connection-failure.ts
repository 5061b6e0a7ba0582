import type { Connection } from './connection';
import {
  BufferAgeLimitError,
  ConnectionAbortedError,
  ConsumerLeftError,
  FrameTooLongError,
  TruncatedFrameError,
} from './errors';

/** The errors rx-tcp raises for what a peer did (or failed to do) on a connection. */
const PEER_ERRORS = [
  ConsumerLeftError,
  BufferAgeLimitError,
  FrameTooLongError,
  TruncatedFrameError,
  ConnectionAbortedError,
];

/** Node's codes for a connection that the peer or the network broke. */
const PEER_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
]);

/**
 * True if `error` is a failure of the connection — something its peer or the network did — rather
 * than a bug of the code serving it. This is the one rule by which a server tells a connection
 * failure (that connection is closed and reported, the server goes on, whatever `onHandlerError`
 * says) from a handler error.
 *
 * A connection failure is: the connection's own error (`error` is the very error its transport
 * failed with, or its writer's failure, passed on by whoever saw it); a reset or broken connection
 * (`ECONNRESET`, `EPIPE`, `ECONNABORTED`, `ETIMEDOUT`, unreachable, a stream destroyed or closed
 * early, a TLS record the peer garbled: `ERR_SSL_…`); the peer leaving with bytes unsent
 * (`ConsumerLeftError`) or not reading them (`BufferAgeLimitError`); input the framing refused
 * (`FrameTooLongError`, `TruncatedFrameError`); and this side's teardown of the connection
 * (`ConnectionAbortedError`: an idle timeout, a forced close). Anything else — a `TypeError`, a
 * `WriterClosedError` after the handler's own close, a `ConcurrentReadError` — is the code's.
 *
 * ```ts
 * import { isConnectionFailure, Server, onPortChosenByOs } from 'rx-tcp';
 *
 * Server.create(onPortChosenByOs, (_address, reader, writer) => reader.transfer(writer), {
 *   onHandlerError: { call: (address, error) => console.error('bug serving', address, error) },
 * }).subscribe((server) =>
 *   server.events.subscribe((e) => {
 *     if (e.type === 'connectionClosed' && isConnectionFailure(e.error)) console.warn('peer failed', e.error);
 *   }),
 * );
 * ```
 * @param error What a handler, a read or a write failed with.
 * @param connection The connection it concerns, if known: its own errors are then recognised
 *   whatever their kind.
 */
export function isConnectionFailure(error: unknown, connection?: Connection): boolean {
  if (connection?.failedWith(error)) return true;
  if (PEER_ERRORS.some((kind) => error instanceof kind)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (PEER_CODES.has(code) || code.startsWith('ERR_SSL_'));
}
