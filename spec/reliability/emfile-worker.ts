// An rx-tcp server run with a tiny open-file limit by faults.spec.ts, to show that running out of
// descriptors while accepting neither crashes nor spins it. Talks to its parent over IPC.

import { EOF, Server } from 'rx-tcp';
import { defer, firstValueFrom } from 'rxjs';
import { loopback } from '../helpers/servers';

async function main(): Promise<void> {
  let acceptErrors = 0;
  const server = await firstValueFrom(
    Server.create(loopback(), (_address, reader, writer) =>
      defer(async () => {
        const line = await firstValueFrom(reader.readLine());
        if (line !== EOF) writer.writeLine(`ok ${line}`);
      }),
    ),
  );
  server.events.subscribe((e) => {
    if (e.type === 'rejected' && e.error !== undefined) acceptErrors++;
  });
  process.on('message', (message: string) => {
    if (message === 'stats') {
      const { user, system } = process.cpuUsage();
      process.send!({ acceptErrors, cpu: (user + system) / 1000, connections: server.numConnections });
    }
  });
  process.send!({ port: server.listeningOn });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
