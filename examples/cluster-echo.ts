// An echo server on every core: `Server.create`, unchanged, in node:cluster workers sharing one port.
//
//   npx ts-node --transpile-only -r tsconfig-paths/register examples/cluster-echo.ts [--workers N] [--port P]
//
// Node's cluster does the sharing: the primary holds the listening socket and hands connections
// to the workers (round-robin, the default everywhere but Windows). Without --port, every worker
// listens with onPortChosenByOs, and cluster gives them all the one port the OS chose for the
// first. Each connection is greeted with the worker's id and pid, then echoed. Ctrl-C (SIGINT) or
// SIGTERM closes every worker's server, waits up to a second for open connections, and exits.

import cluster, { type Worker } from 'node:cluster';
import * as os from 'node:os';
import { addressToString, onPort, onPortChosenByOs, Server } from 'rx-tcp';
import { firstValueFrom, lastValueFrom } from 'rxjs';

/** What a worker tells the primary. */
type FromWorker = { type: 'listening'; port: number };
/** What the primary tells a worker. */
type ToWorker = { type: 'shutdown' };

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`--${name} must be an integer >= 0`);
  return value;
}

async function worker(): Promise<void> {
  const port = option('port', 0);
  const id = cluster.worker!.id;
  const server = await firstValueFrom(
    Server.create(port === 0 ? onPortChosenByOs : onPort(port), (address, reader, writer) => {
      console.log(`worker ${id}: ${addressToString(address)} connected`);
      writer.writeLine(`worker ${id} pid ${process.pid}`);
      return reader.transfer(writer);
    }),
  );
  process.send!({ type: 'listening', port: server.listeningOn } satisfies FromWorker);
  // Ctrl-C reaches every process of the terminal's group: the primary decides when workers stop.
  // (Should the primary die, cluster ends its workers by itself.)
  process.on('SIGINT', () => {});
  process.on('message', async (message: ToWorker) => {
    if (message?.type !== 'shutdown') return;
    await lastValueFrom(server.close({ drainTimeout: 1000 }), { defaultValue: undefined });
    process.exit(0);
  });
}

function primary(): void {
  const count = option('workers', os.availableParallelism());
  if (count < 1) throw new RangeError('--workers must be at least 1');
  // Workers run this very file; under ts-node they need it too (and the rx-tcp path mapping).
  if (__filename.endsWith('.ts')) {
    cluster.setupPrimary({
      execArgv: ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'],
    });
  }
  const ports = new Map<Worker, number>();
  let stopping = false;

  const fork = () => {
    const child = cluster.fork();
    child.on('message', (message: FromWorker) => {
      if (message?.type !== 'listening') return;
      ports.set(child, message.port);
      console.log(`worker ${child.id} (pid ${child.process.pid}) listening on port ${message.port}`);
      if (ports.size === count) {
        const shared = new Set(ports.values());
        if (shared.size !== 1)
          throw new Error(`workers listen on different ports: ${[...shared].join(', ')}`);
        console.log(`cluster-echo: ${count} workers on port ${message.port}`);
      }
    });
  };

  cluster.on('exit', (child, code, signal) => {
    ports.delete(child);
    if (stopping) return;
    // A worker that dies is replaced; the others went on serving meanwhile.
    console.error(`worker ${child.id} died (${signal ?? code}); starting another`);
    fork();
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('cluster-echo: stopping');
    for (const child of Object.values(cluster.workers ?? {})) {
      child?.send({ type: 'shutdown' } satisfies ToWorker);
    }
    // A worker that does not leave within 5 s is killed; the primary then exits with the last one.
    setTimeout(() => {
      for (const child of Object.values(cluster.workers ?? {})) child?.kill('SIGKILL');
    }, 5000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  for (let i = 0; i < count; i++) fork();
}

if (cluster.isPrimary) {
  primary();
} else {
  worker().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
