export { type ConnectionPairOptions, connectionPair, DEFAULT_WINDOW_SIZE } from './connection-pair';
export {
  type MarbleConnection,
  type MarbleConnectionOptions,
  type MarbleHelpers,
  type MarbleInput,
  marbleConnection,
} from './marble-connection';
export { serveConnection } from './serve-connection';
export { type ServedMarble, serveMarble } from './serve-marble';
