// testing/: rx-tcp/testing, an in-memory transport and the helpers built on it. What differs under
// test (a scheduler, a recording writer) is passed from here into the product; it may import
// anything but client/, and nothing in the product imports it.
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
