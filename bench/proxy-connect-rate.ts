/**
 * Connect rate behind a load balancer: 10 k sequential connections to `Server.create` with
 * `proxyProtocol: 'v2'`, each opened by a client that writes a v2 PROXY header (an IPv4 source
 * and destination, as HAProxy's `send-proxy-v2` does) and ends, against the same server without
 * the PROXY protocol, whose clients write as many bytes of data instead. Both servers read each
 * connection to EOF and close.
 *
 * The "raw" column here is rx-tcp without the PROXY protocol, and the same bytes cross the wire on
 * both sides: the figure is what reading the header before the handler costs, not what sending 28
 * more bytes costs. Target: at least 0.9× the connections per second.
 * Run alone with `npm run bench -- proxy-connect-rate`; `BENCH_QUICK=1` for 2 k.
 */
import * as net from 'node:net';
import { encodeProxyHeader } from '../src';
import { SECONDS_LONG_ROUNDS, type Side, secondsSince, sidesFigure, sized } from './common';
import { closed, startRxServer } from './servers';

const CONNECTIONS = sized(10_000, 2_000);

const HEADER = encodeProxyHeader(2, {
  source: { family: 'inet', host: '192.0.2.10', port: 51_234 },
  destination: { family: 'inet', host: '192.0.2.1', port: 443 },
  tlvs: new Map(),
});

/** What the clients of the server without the PROXY protocol write: as many bytes, of data. */
const SAME_BYTES = Buffer.alloc(HEADER.length, 'x');

/** One client: connect, write `first`, end, and wait for the server's FIN and the close. */
function connectAndClose(port: number, first: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.resume();
    socket.on('connect', () => {
      socket.end(first);
    });
  });
}

function measure(side: Side): (count: number) => Promise<number> {
  const proxied = side === 'rx';
  return async (count) => {
    const server = await startRxServer((_address, reader) => reader, proxied ? { proxyProtocol: 'v2' } : {});
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await connectAndClose(server.listeningOn, proxied ? HEADER : SAME_BYTES);
    const seconds = secondsSince(start);
    await closed(server.close());
    return count / seconds;
  };
}

export const main = sidesFigure(module, {
  heading: `connect rate with proxyProtocol 'v2': ${CONNECTIONS} sequential connections, connections/s`,
  figure: "connect rate, proxyProtocol 'v2'",
  unit: 'connections/s',
  size: CONNECTIONS,
  rounds: SECONDS_LONG_ROUNDS,
  warmUpSize: 2 * CONNECTIONS,
  collectBetweenRuns: false,
  target: { ratio: 0.9, higherIsBetter: true },
  note: `${CONNECTIONS} connections; raw net clients writing a v2 PROXY header then FIN to Server.create({ proxyProtocol: 'v2' }) reading to EOF, vs as many bytes of data to the same server without the option ("raw" is rx-tcp without the PROXY protocol)`,
  sides: { rx: measure('rx'), raw: measure('raw') },
});
