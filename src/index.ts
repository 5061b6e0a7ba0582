export { type Address, addressToString, type InetAddress, type UnixAddress } from './address';
export { type ConnectOptions, connect } from './connect';
export { type ConnectSockOptions, connectSock, DEFAULT_CONNECT_TIMEOUT } from './connect-sock';
export {
  Connection,
  type ConnectionOptions,
  DEFAULT_BUFFER_AGE_LIMIT,
  DEFAULT_READER_BUFFER_SIZE,
} from './connection';
export { isConnectionFailure } from './connection-failure';
export * from './errors';
export { CLOSE_FORCE_AFTER } from './internal/limits';
export { DEFAULT_BACKLOG, type ListenOptions, listen } from './listen';
export { EOF, Reader, type ReadLineOptions, type ReadUntilOptions, type ShortRead } from './reader';
export {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  type Handler,
  type HandlerErrorPolicy,
  Server,
  type ServerCloseOptions,
  type ServerEvent,
  type ServerOptions,
} from './server';
export { Socket } from './socket';
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
export { withConnection } from './with-connection';
export { type BufferAgeLimit, Writer, type WriterCloseOptions, type WriterState } from './writer';
