import {
  type InetAddress,
  type PersistentConnectionEvent,
  Server,
  toHostAndPort,
  WhereToListen,
} from 'rx-tcp';
import { serveMarble } from 'rx-tcp/testing';
import { firstValueFrom, lastValueFrom, type Subscription, take, timer, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { waitFor } from '../spec/helpers/net';
import { loopback } from '../spec/helpers/servers';
import { Feed, type FeedEntry, feedClient, feedServer, parseEntry, parseSince } from './feed-client';

// The feed server's handler in marbles (virtual time), then the client following a real loopback
// server that is stopped and started again on its port.

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Listen on 127.0.0.1 at `port`. */
function onLoopbackPort(port: number): WhereToListen<InetAddress, number> {
  return WhereToListen.create({
    socketType: 'inet',
    address: { family: 'inet', host: '127.0.0.1', port },
    listeningOn: (bound) => bound.port,
  });
}

/**
 * A feed server on 127.0.0.1 at `port`. Binding the port a stopped server had can fail while
 * something else holds it for a moment: tried again, at most 50 times.
 */
async function startOn(feed: Feed, port: number): Promise<Server<InetAddress, number>> {
  for (let tries = 1; ; tries++) {
    try {
      return await firstValueFrom(Server.create(onLoopbackPort(port), feedServer(feed)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries === 50) throw error;
      await lastValueFrom(timer(20));
    }
  }
}

function closeServer(server: Server<InetAddress, number>): Promise<void> {
  return lastValueFrom(server.close({ closeExistingConnections: true }), { defaultValue: undefined });
}

describe('feed protocol', () => {
  it.each([
    ['SINCE 0', 0],
    ['SINCE 42', 42],
    ['since 1', undefined],
    ['SINCE -1', undefined],
    ['SINCE', undefined],
  ])('reads %j as %j', (line, seq) => {
    expect(parseSince(line)).toBe(seq);
  });

  it('reads entries, and nothing from what is not one', () => {
    expect(parseEntry('7 tick 7')).toEqual({ seq: 7, text: 'tick 7' });
    expect(parseEntry('7 ')).toEqual({ seq: 7, text: '' });
    expect(parseEntry('ERR expected SINCE <seq>')).toBeUndefined();
  });

  it('keeps the last lines only', () => {
    const feed = new Feed(2);
    for (const text of ['a', 'b', 'c']) feed.publish(text);
    const replayed: FeedEntry[] = [];
    feed.since(0).subscribe((entry) => replayed.push(entry));
    expect(replayed).toEqual([
      { seq: 2, text: 'b' },
      { seq: 3, text: 'c' },
    ]);
    expect(() => new Feed(-1)).toThrow(new RangeError('Feed: keep must be an integer >= 0, got -1'));
  });
});

describe('feed server in marbles (virtual time)', () => {
  it('sends what came after SINCE, then each new line, until the client leaves', () => {
    testScheduler().run((helpers) => {
      const feed = new Feed();
      for (const text of ['one', 'two', 'three']) feed.publish(text);
      helpers.cold('------a-b').subscribe((text) => feed.publish(text));
      const { writes, served } = serveMarble(helpers, feedServer(feed), '-s--------|', { s: 'SINCE 1\n' });
      helpers.expectObservable(writes).toBe('-(xy)-a-b-|', {
        x: '2 two\n',
        y: '3 three\n',
        a: '4 a\n',
        b: '5 b\n',
      });
      helpers.expectObservable(served).toBe('----------(d|)', { d: undefined });
    });
  });

  it('answers ERR to anything but SINCE, and the server closes the connection', () => {
    testScheduler().run((helpers) => {
      const { writes, served } = serveMarble(helpers, feedServer(new Feed()), '-g', { g: 'GET\n' });
      helpers.expectObservable(writes).toBe('-(e|)', { e: 'ERR expected SINCE <seq>\n' });
      helpers.expectObservable(served).toBe('-(d|)', { d: undefined });
    });
  });
});

describe('feed client over a real loopback socket', () => {
  let server: Server<InetAddress, number> | undefined;
  let client: Subscription | undefined;
  afterEach(async () => {
    client?.unsubscribe();
    if (server !== undefined) {
      // The client's unsubscribe closed its connection: the server sees it leave.
      const current = server;
      await waitFor(() => current.numConnections === 0, 5000, 'the client to leave');
      await closeServer(current);
    }
    server = undefined;
    client = undefined;
  });

  it('resumes after the server restarts on its port: every line once, in order', async () => {
    const feed = new Feed();
    server = await firstValueFrom(Server.create(loopback(), feedServer(feed)));
    const { listeningOn: port } = server;
    const received: FeedEntry[] = [];
    const events: PersistentConnectionEvent[] = [];
    client = feedClient(toHostAndPort('127.0.0.1', port), {
      retry: { initialDelay: 10, maxDelay: 50 },
      onEvent: (e) => events.push(e),
    }).subscribe((entry) => received.push(entry));

    for (const text of ['a', 'b', 'c']) feed.publish(text);
    await waitFor(() => received.length === 3, 5000, 'the first lines');
    await closeServer(server);
    server = undefined;
    feed.publish('d'); // while the server is down
    await waitFor(() => events.some((e) => e.type === 'retrying'), 5000, 'a refused attempt');
    server = await startOn(feed, port);
    feed.publish('e');
    await waitFor(() => received.length === 5, 5000, 'the lines after the restart');

    expect(received.map((entry) => entry.text)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(received.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(events.filter((e) => e.type === 'connected')).toHaveLength(2);
    expect(events.some((e) => e.type === 'disconnected')).toBe(true);
  });

  it('follows a feed from the start for each subscription', async () => {
    const feed = new Feed();
    for (const text of ['x', 'y']) feed.publish(text);
    server = await firstValueFrom(Server.create(loopback(), feedServer(feed)));
    const where = toHostAndPort('127.0.0.1', server.listeningOn);
    const first = await lastValueFrom(feedClient(where).pipe(take(2), toArray()));
    const again = await lastValueFrom(feedClient(where).pipe(take(2), toArray()));
    expect(first).toEqual(again);
    expect(first.map((entry) => entry.text)).toEqual(['x', 'y']);
  });
});
