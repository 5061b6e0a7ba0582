// The server side of load.spec.ts: one rx-tcp server, with `count` clients held open by a child
// process (each process keeps within the open-file limit). Prints a JSON report.
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { EOF, Server } from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom } from 'rxjs';
import { loopback } from '../helpers/servers';

async function main(count: number): Promise<void> {
  let served = 0;
  let resets = 0;
  const server = await firstValueFrom(
    Server.create(
      loopback(),
      (_address, reader, writer) =>
        defer(async () => {
          const line = await firstValueFrom(reader.readLine());
          if (line === EOF) return;
          served++;
          writer.writeLine(`ok ${line}`);
          // Hold the connection open until the client leaves.
          await firstValueFrom(reader.read());
        }),
      { maxConnections: count, maxPendingConnections: 1024 },
    ),
  );
  server.events.subscribe((e) => {
    if (e.type === 'rejected') resets++;
  });
  const started = Date.now();
  const clients = fork(path.join(__dirname, 'load-clients.js'), [String(server.listeningOn), String(count)]);
  const report = await new Promise<{ answered: number; resets: number; open: number }>((resolve) =>
    clients.once('message', resolve as never),
  );
  const held = server.numConnections;
  const elapsed = Date.now() - started;
  server.invariant();
  clients.send('close');
  const closed = await new Promise<{ resets: number }>((resolve) =>
    clients.once('message', resolve as never),
  );
  await lastValueFrom(server.close({ drainTimeout: 10_000 }));
  process.stdout.write(
    `${JSON.stringify({
      count,
      served,
      answered: report.answered,
      open: report.open,
      held,
      resets: report.resets + closed.resets + resets,
      elapsed,
      left: server.numConnections,
    })}\n`,
  );
}

main(Number(process.argv[2])).catch((error) => {
  console.error(error);
  process.exit(1);
});
