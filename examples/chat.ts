// A line chat server with broadcast: `npm run example:chat`. Every line a client sends goes to
// every other client. With PORT set it stays up for `nc localhost $PORT`; without, it runs a short
// scripted conversation between two clients and exits.

import { addressToString, onPort, onPortChosenByOs, Server, toHostAndPort, withConnection } from 'rx-tcp';
import {
  concat,
  defer,
  filter,
  firstValueFrom,
  lastValueFrom,
  map,
  merge,
  Subject,
  take,
  takeUntil,
  toArray,
} from 'rxjs';

interface Said {
  from: string;
  text: string;
}

/** The chat server: one Subject carries every line to every connection but its sender's. */
export function chatServer(port?: number) {
  const room = new Subject<Said>();
  return Server.create(port === undefined ? onPortChosenByOs : onPort(port), (address, reader, writer) => {
    const me = addressToString(address);
    const left = new Subject<void>();
    // What others say, until this client leaves.
    const hear = room.pipe(
      filter((said) => said.from !== me),
      takeUntil(left),
      map((said) => writer.writeLine(`${said.from}: ${said.text}`)),
    );
    // What this client says, to everyone; its FIN ends the session.
    const speak = concat(
      defer(() => {
        room.next({ from: me, text: '(joined)' });
        return reader.lines();
      }).pipe(map((text) => room.next({ from: me, text }))),
      defer(() => {
        room.next({ from: me, text: '(left)' });
        left.next();
        return [];
      }),
    );
    return merge(hear, speak);
  });
}

async function demo(): Promise<void> {
  const server = await firstValueFrom(chatServer());
  const where = toHostAndPort('127.0.0.1', server.listeningOn);
  const aliceJoined = firstValueFrom(server.events.pipe(filter((e) => e.type === 'accepted')));
  // Alice waits to hear Bob, then answers; Bob says hello and waits for the answer.
  const alice = lastValueFrom(
    withConnection(where, ({ reader, writer }) =>
      reader.lines().pipe(
        filter((line) => line.endsWith('hello, anyone?')),
        take(1),
        map((line) => {
          writer.writeLine('hi Bob!');
          return `alice heard "${line}"`;
        }),
      ),
    ),
  );
  await aliceJoined; // her handler listens to the room from then on
  const bob = lastValueFrom(
    withConnection(where, ({ reader, writer }) => {
      writer.writeLine('hello, anyone?');
      return reader.lines().pipe(
        filter((line) => line.endsWith('hi Bob!')),
        take(1),
        map((line) => `bob heard "${line}"`),
        toArray(),
      );
    }),
  );
  console.log(await alice);
  console.log((await bob)[0]);
  await lastValueFrom(server.close({ closeExistingConnections: true }));
}

if (require.main === module) {
  const port = process.env.PORT === undefined ? undefined : Number(process.env.PORT);
  if (port === undefined) {
    demo().catch((error) => {
      console.error(error);
      process.exitCode = 1;
    });
  } else {
    chatServer(port).subscribe((server) =>
      console.log(`chat on port ${server.listeningOn}: nc localhost ${port}`),
    );
  }
}
