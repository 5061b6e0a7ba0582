// A line service meant to run behind HAProxy: `npm run example:haproxy` starts WORKERS processes
// (default 2) on one port, PORT (default 7300), with `reusePort` so that the kernel spreads the
// connections, each reading the PROXY header HAProxy's `send-proxy` or `send-proxy-v2` sends.
// SIGTERM (or Ctrl-C) drains: each process stops accepting at once, so HAProxy's health check
// marks it down, and lets its connections finish for up to 10 s. On a Node without `reusePort`
// (before 22.12) it runs one process. An HAProxy configuration in front of it:
//
//   frontend lines
//     mode tcp
//     bind :7000
//     default_backend workers
//   backend workers
//     mode tcp
//     server w1 127.0.0.1:7300 send-proxy-v2 check check-send-proxy inter 1s
//
// Then `nc localhost 7000`: the service greets you with your own address, not HAProxy's.

import { fork } from 'node:child_process';
import {
  addressToString,
  type Handler,
  type InetAddress,
  onPort,
  onPortChosenByOs,
  Server,
  type ServerOptions,
} from 'rx-tcp';
import { firstValueFrom, lastValueFrom, tap } from 'rxjs';

/** Greets each client with the address it came from (HAProxy's health checks get the balancer's), then echoes lines. */
export const greetAndEcho: Handler<InetAddress> = (address, reader, writer, connection) => {
  const via = connection.proxy === null ? 'direct' : `via ${addressToString(connection.remoteAddress)}`;
  writer.writeLine(`hello ${addressToString(address)} (${via})`);
  return reader.lines().pipe(tap((line) => writer.writeLine(line)));
};

/** Whether this Node lets several processes bind one port (`reusePort`). */
export function reusePortSupported(version = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The options of each process's server. */
export function serviceOptions(reusePort = reusePortSupported()): ServerOptions<InetAddress> {
  return { proxyProtocol: 'any', proxyHeaderTimeout: 5_000, reusePort };
}

/** One process's server on `port` (0: one the OS chooses). */
export function startService(
  port: number,
  reusePort = reusePortSupported(),
): Promise<Server<InetAddress, number>> {
  const where = port === 0 ? onPortChosenByOs : onPort(port);
  return firstValueFrom(Server.create(where, greetAndEcho, serviceOptions(reusePort)));
}

/** A rolling restart's part: on SIGTERM or SIGINT, stop accepting at once and drain for `drainTimeout`. */
export function drainOnSignal(server: Server<InetAddress, number>, drainTimeout = 10_000): void {
  const drain = () => {
    lastValueFrom(server.close({ drainTimeout }), { defaultValue: undefined }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', drain);
  process.once('SIGINT', drain);
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 7300);
  if (process.env.WORKER !== undefined || !reusePortSupported()) {
    const server = await startService(port);
    console.log(`${process.pid}: serving on port ${server.listeningOn}, PROXY protocol v1 or v2`);
    drainOnSignal(server);
    return;
  }
  const count = Number(process.env.WORKERS ?? 2);
  const workers = Array.from({ length: count }, (_, i) =>
    fork(__filename, [], { env: { ...process.env, WORKER: String(i) }, execArgv: process.execArgv }),
  );
  // Ctrl-C reaches the workers from the terminal; a SIGTERM sent to this process alone is passed on.
  process.once('SIGTERM', () => {
    for (const worker of workers) worker.kill('SIGTERM');
  });
  process.once('SIGINT', () => {});
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
