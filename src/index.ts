// The entry point of rx-tcp. Each folder is a layer: bytes/ (pure framing), stream/ (Reader and
// Writer over a Transport), node/ (Node's sockets), client/ and server/, with operators/ and
// testing/ beside them; spec/layout.spec.ts checks who may import whom (README: Inside rx-tcp).
export { type Address, addressToString, type InetAddress, type UnixAddress } from './address';
export {
  encodeProxyHeader,
  type ProxyHeader,
  type ProxyInfo,
  type ProxyProtocolVersion,
} from './bytes/proxy-header';
export { DEFAULT_RETRY, type RetryOptions } from './client/backoff';
export { type ConnectOptions, connect } from './client/connect';
export { type ConnectSockOptions, connectSock, DEFAULT_CONNECT_TIMEOUT } from './client/connect-sock';
export { ConnectionPool } from './client/connection-pool';
export {
  type PersistentConnectionEvent,
  type PersistentConnectionOptions,
  persistentConnection,
  type WhereToReconnect,
} from './client/persistent-connection';
export {
  type ConnectionPoolOptions,
  DEFAULT_POOL_ACQUIRE_TIMEOUT,
  DEFAULT_POOL_IDLE_TIMEOUT,
  DEFAULT_POOL_MAX_CONNECTIONS,
  DEFAULT_POOL_MAX_WAITING,
  type PoolCloseOptions,
  type PoolDestroyReason,
  type PoolEvent,
  type PoolState,
  type PoolStats,
} from './client/pool-options';
export { withConnection } from './client/with-connection';
export {
  Connection,
  type ConnectionOptions,
  DEFAULT_BUFFER_AGE_LIMIT,
  DEFAULT_READER_BUFFER_SIZE,
} from './connection';
export { isConnectionFailure } from './connection-failure';
export * from './errors';
export { Socket } from './node/socket';
export type { Handler } from './server/handler-run';
export { DEFAULT_BACKLOG, type ListenOptions, listen } from './server/listen';
export { DEFAULT_PROXY_HEADER_TIMEOUT } from './server/proxy-accept';
export { Server } from './server/server';
export {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  type HandlerErrorPolicy,
  type ServerCloseOptions,
  type ServerEvent,
  type ServerOptions,
} from './server/server-options';
export { EOF, Reader, type ReadLineOptions, type ReadUntilOptions, type ShortRead } from './stream/reader';
export {
  type BufferAgeLimit,
  CLOSE_FORCE_AFTER,
  Writer,
  type WriterCloseOptions,
  type WriterState,
} from './stream/writer';
export { Tcp } from './tcp';
export {
  toFile,
  toHostAndPort,
  toInetAddress,
  toUnixAddress,
  type ViaLocalOptions,
  WhereToConnect,
} from './where-to-connect';
export {
  onFile,
  onPort,
  onPortChosenByOs,
  WhereToListen,
  type WhereToListenJSON,
  type WhereToListenSpec,
} from './where-to-listen';
