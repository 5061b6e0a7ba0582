/**
 * Connect rate: 10 k sequential connect + close against a server, client and server in this process.
 *
 * - rx-tcp: `Server.create` whose handler reads until the client's FIN (`reader`, its chunks,
 *   complete at EOF; the server then closes its side); the client is `connect(...)` then
 *   `connection.close()` (flush, FIN, then release the socket), waiting for it to complete.
 * - raw: a server that reads until FIN and answers it with FIN (`resume()`, `allowHalfOpen: false`,
 *   Node's default); the client does what `Connection.close()` does: `socket.end(() =>
 *   socket.destroy())`, waiting for 'close'.
 *
 * The figure is connections per second at steady state:
 * - The warm-up is two whole runs. rx-tcp runs more JavaScript per connection than raw `node:net`,
 *   and V8 is still optimising it until about 16 k connections (`--trace-opt`: some 25 functions
 *   between 8 k and 16 k, 2 between 16 k and 24 k, none after); raw settles within a few thousand.
 * - No forced GC between runs. A full GC when no connection is alive lets V8 drop the maps of the
 *   per-connection objects, and with them the optimised code that relies on them (`--trace-deopt`:
 *   "wrong map"), so every run would start by warming up again: about 100 functions re-optimised
 *   on the rx-tcp side, 35 on the raw one. A server always holding a connection does not see that.
 *
 * A fresh server (port) per run keeps the client's TIME_WAIT ports from colliding with the next
 * run. Run alone with `npm run bench -- connect-rate`; `BENCH_QUICK=1` for 2 k. Timed rounds here
 * swing by 20% and more; `connect-instructions.ts` counts the same workload instead, end by end.
 */
import { SECONDS_LONG_ROUNDS, sidesFigure, sized } from './common';
import { measureConnectRate } from './connect-and-close';

const CONNECTIONS = sized(10_000, 2_000);

export const main = sidesFigure(module, {
  heading: `connect rate: ${CONNECTIONS} sequential connect + close, connections/s`,
  figure: 'connect rate',
  unit: 'connections/s',
  size: CONNECTIONS,
  rounds: SECONDS_LONG_ROUNDS,
  warmUpSize: 2 * CONNECTIONS,
  collectBetweenRuns: false,
  target: { ratio: 0.9, higherIsBetter: true },
  note: `${CONNECTIONS} connections; connect + Connection.close() against Server.create reading to EOF vs net.connect + end/destroy against a resumed net.Server; warm-up two runs, no GC between runs`,
  sides: { rx: measureConnectRate('rx', 'rx'), raw: measureConnectRate('raw', 'raw') },
});
