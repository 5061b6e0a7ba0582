// A feed client that survives its server restarting: `npm run example:feed`.
//
// The server sends a feed of numbered lines, `<seq> <text>`, to every client. A client starts with
// `SINCE <seq>`, the last number it has seen (0 at first), and the server sends what came after it
// (as much as it keeps), then every new line as it comes. The client is `persistentConnection`: when
// the server goes away it connects again, with backoff, and says where it stopped, so that across a
// restart it misses no line and sees none twice.
//
// The feed (the lines and their numbers) lives in a `Feed` object that outlives the servers: in a
// real deployment it would be a journal or a database the restarted server reads again.

import {
  type Address,
  type Handler,
  onPort,
  onPortChosenByOs,
  type PersistentConnectionOptions,
  persistentConnection,
  Server,
  toHostAndPort,
  type WhereToReconnect,
} from 'rx-tcp';
import {
  catchError,
  concat,
  defer,
  EMPTY,
  endWith,
  filter,
  firstValueFrom,
  ignoreElements,
  interval,
  lastValueFrom,
  map,
  type Observable,
  Subject,
  share,
  switchMap,
  take,
  takeUntil,
  tap,
  timer,
} from 'rxjs';

/** One line of the feed. */
export interface FeedEntry {
  seq: number;
  text: string;
}

/** The lines published so far (the last `keep` of them) and those to come. */
export class Feed {
  private readonly kept: FeedEntry[] = [];
  private readonly live = new Subject<FeedEntry>();
  private last = 0;

  /** @param keep How many past lines a client coming back can still get. Default `1000`. */
  constructor(private readonly keep = 1000) {
    if (!Number.isInteger(keep) || keep < 0) {
      throw new RangeError(`Feed: keep must be an integer >= 0, got ${String(keep)}`);
    }
  }

  /** Numbers `text` and sends it to every client following the feed. */
  publish(text: string): FeedEntry {
    const entry = { seq: ++this.last, text };
    this.kept.push(entry);
    if (this.kept.length > this.keep) this.kept.shift();
    this.live.next(entry);
    return entry;
  }

  /** The kept lines after `seq`, then every new one. */
  since(seq: number): Observable<FeedEntry> {
    // Synchronous: no line is published between the copy of the past and the subscription.
    return defer(() =>
      concat(
        this.kept.filter((entry) => entry.seq > seq),
        this.live,
      ),
    );
  }
}

/** `SINCE <seq>` as a number, or `undefined` for anything else. */
export function parseSince(line: string): number | undefined {
  const match = /^SINCE (\d{1,15})$/.exec(line.trim());
  return match === null ? undefined : Number(match[1]);
}

/** `<seq> <text>` as an entry, or `undefined` for a line that is not one. */
export function parseEntry(line: string): FeedEntry | undefined {
  const match = /^(\d{1,15}) (.*)$/.exec(line);
  return match === null ? undefined : { seq: Number(match[1]), text: match[2] };
}

/**
 * The feed server's handler, for `Server.create`: reads `SINCE <seq>`, then sends the feed from
 * there until the client leaves (its FIN ends the handler, and the server closes the connection).
 * A first line that is not `SINCE` is answered `ERR` and the connection closed.
 */
export function feedServer(feed: Feed): Handler<Address> {
  return (_address, reader, writer) => {
    const lines = reader.lines().pipe(share());
    const left = lines.pipe(ignoreElements(), endWith(true));
    return lines.pipe(
      take(1),
      switchMap((line) => {
        const seq = parseSince(line);
        if (seq !== undefined) return feed.since(seq);
        writer.writeLine('ERR expected SINCE <seq>');
        return EMPTY;
      }),
      tap((entry) => writer.writeLine(`${entry.seq} ${entry.text}`)),
      takeUntil(left),
    );
  };
}

/**
 * Follows a feed server: every entry once, in order, across any number of reconnects. Cold: each
 * subscription follows from the start (`SINCE 0`).
 * @param where Where the feed server is (or a function giving it, asked at each attempt).
 * @param options As `persistentConnection`'s.
 */
export function feedClient<A extends Address>(
  where: WhereToReconnect<A>,
  options: PersistentConnectionOptions = {},
): Observable<FeedEntry> {
  return defer(() => {
    let last = 0;
    return persistentConnection(where, options).pipe(
      switchMap(({ reader, writer }) => {
        writer.writeLine(`SINCE ${last}`);
        return reader.lines().pipe(
          map(parseEntry),
          // A reset errors the lines: the connection is over, and the next one comes.
          catchError(() => EMPTY),
        );
      }),
      filter((entry): entry is FeedEntry => entry !== undefined && entry.seq > last),
      tap((entry) => {
        last = entry.seq;
      }),
    );
  });
}

/**
 * Starts a server publishing a tick every 100 ms, follows it, restarts it on the same port after
 * the fifth tick (it stays down for half a second), and stops after the fifteenth.
 */
async function main(): Promise<void> {
  const feed = new Feed();
  const ticks = interval(100).subscribe((i) => feed.publish(`tick ${i + 1}`));
  let server = await firstValueFrom(Server.create(onPortChosenByOs, feedServer(feed)));
  const port = server.listeningOn;
  console.log(`server: feed on port ${port}`);

  const restarted = new Subject<void>();
  const client = feedClient(toHostAndPort('localhost', port), {
    retry: { initialDelay: 100, maxDelay: 1000 },
    onEvent: (e) =>
      console.log(
        `client: ${e.type} (attempt ${e.attempt})${e.delay === undefined ? '' : `, next in ${e.delay.toFixed(0)} ms`}` +
          `${e.error === undefined ? '' : `: ${(e.error as Error).message}`}`,
      ),
  }).pipe(
    tap((entry) => console.log(`client: ${entry.seq} ${entry.text}`)),
    tap((entry) => {
      if (entry.seq === 5) restarted.next();
    }),
    takeUntil(timer(10_000)), // a bound on the demo, should something go wrong
    filter((entry) => entry.seq === 15),
    take(1),
  );
  const done = lastValueFrom(client, { defaultValue: undefined });

  await firstValueFrom(restarted);
  console.log('server: stopping');
  await lastValueFrom(server.close({ closeExistingConnections: true }), { defaultValue: undefined });
  await lastValueFrom(timer(500));
  server = await firstValueFrom(Server.create(onPort(port), feedServer(feed)));
  console.log(`server: back on port ${server.listeningOn}`);

  await done;
  ticks.unsubscribe();
  await lastValueFrom(server.close({ closeExistingConnections: true }), { defaultValue: undefined });
  console.log('server: closed');
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
