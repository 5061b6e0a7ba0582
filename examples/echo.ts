// An echo server and a client talking to it, in one process: `npm run example:echo`.
// The server echoes with flow control (reader.transfer), the client sends a few lines and prints
// what comes back, then both close.

import { addressToString, onPortChosenByOs, Server, toHostAndPort, withConnection } from 'rx-tcp';
import { concat, defer, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';

async function main(): Promise<void> {
  const server = await firstValueFrom(
    Server.create(onPortChosenByOs, (address, reader, writer) => {
      console.log(`server: ${addressToString(address)} connected`);
      return reader.transfer(writer);
    }),
  );
  console.log(`server: echoing on port ${server.listeningOn}`);

  const lines = ['hello', 'rx-tcp', 'goodbye'];
  const echoed = await lastValueFrom(
    withConnection(toHostAndPort('localhost', server.listeningOn), ({ reader, writer }) => {
      for (const line of lines) writer.writeLine(line);
      return concat(
        reader.lines().pipe(take(lines.length), toArray()),
        defer(() => writer.close()), // our FIN: the server's transfer completes and it closes too
      );
    }).pipe(toArray()),
  );
  console.log('client: got back', echoed[0]);

  await lastValueFrom(server.close());
  console.log('server: closed');
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
