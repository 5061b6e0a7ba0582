// A netcat-like CLI on rx-tcp: stdin to the socket, the socket to stdout, and a progress line with
// bytes per second on stderr.
//   npm run example:netcat -- listen 9000          (waits for one connection)
//   npm run example:netcat -- connect localhost 9000

import { type Connection, connect, EOF, listen, onPort, toHostAndPort } from 'rx-tcp';
import { firstValueFrom, interval, lastValueFrom, map, take } from 'rxjs';

/** Copies stdin into the connection and the connection to stdout; resolves when both are done. */
async function relay(connection: Connection): Promise<void> {
  const { reader, writer } = connection;
  let bytesIn = 0;
  let bytesOut = 0;
  const started = Date.now();
  const progress = interval(1000).subscribe(() => {
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(
      `\r${bytesOut} B sent, ${bytesIn} B received, ${((bytesIn + bytesOut) / seconds / 1024).toFixed(1)} KiB/s   `,
    );
  });
  const send = (async () => {
    for await (const chunk of process.stdin) {
      writer.write(chunk as Buffer);
      bytesOut += (chunk as Buffer).length;
      // Pushback: stop reading stdin while the peer is behind.
      if (writer.bytesToWrite > 1024 * 1024) await lastValueFrom(writer.flushed());
    }
    await lastValueFrom(writer.close()); // stdin ended: send FIN, keep receiving
  })();
  const receive = (async () => {
    for (;;) {
      const chunk = await firstValueFrom(reader.read());
      if (chunk === EOF) break;
      bytesIn += chunk.length;
      if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
    }
  })();
  await Promise.all([send, receive]);
  progress.unsubscribe();
  await lastValueFrom(connection.close());
  process.stderr.write(`\ndone: ${bytesOut} B sent, ${bytesIn} B received\n`);
}

async function main(args: string[]): Promise<void> {
  const [mode, ...rest] = args;
  if (mode === 'connect' && rest.length === 2) {
    await relay(await firstValueFrom(connect(toHostAndPort(rest[0], Number(rest[1])))));
  } else if (mode === 'listen' && rest.length === 1) {
    const one = listen(onPort(Number(rest[0])), {
      onListening: (port) => process.stderr.write(`listening on port ${port}\n`),
    }).pipe(take(1), map(relay));
    await firstValueFrom(one).then((done) => done);
  } else {
    process.stderr.write('usage: netcat connect HOST PORT | netcat listen PORT\n');
    process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`netcat: ${error.message}\n`);
  process.exitCode = 1;
});
