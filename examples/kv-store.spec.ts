import { type Connection, type InetAddress, Server, toHostAndPort, withConnection } from 'rx-tcp';
import { connectionPair, serveConnection, serveMarble } from 'rx-tcp/testing';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { loopback } from '../spec/helpers/servers';
import { answer, kvStore } from './kv-store';

// One handler, kvStore(), tested three ways: in marbles (virtual time, idle timeout included), over
// connectionPair (in memory), and over a real loopback socket, with the same session.

/** A session: each command, and the line the server answers. */
const SESSION: [string, string][] = [
  ['SET colour dark blue', 'OK'],
  ['GET colour', 'dark blue'],
  ['GET size', 'NIL'],
  ['SET size', 'ERR usage: SET key value'],
  ['DEL colour', 'ERR unknown command "DEL"'],
  ['QUIT', 'BYE'],
];
const COMMANDS = SESSION.map(([command]) => command);
const REPLIES = SESSION.map(([, reply]) => reply);

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Sends the commands at once, and reads every answer until the server hangs up. */
function runSession(connection: Connection): Promise<string[]> {
  for (const command of COMMANDS) connection.writer.writeLine(command);
  return lastValueFrom(connection.reader.lines().pipe(toArray()));
}

describe('kv-store protocol', () => {
  it.each([
    ['SET k v', 'OK'],
    ['SET k   spaced  value ', 'OK'],
    ['GET', 'ERR usage: GET key'],
    ['GET k extra', 'ERR usage: GET key'],
    ['', 'ERR empty command'],
    ['set k v', 'ERR unknown command "set"'],
  ])('answers %j with %j', (line, reply) => {
    expect(answer(new Map(), line).text).toBe(reply);
  });

  it('throws at the call on bad options', () => {
    expect(() => kvStore({ idleTimeout: 0 })).toThrow(
      new RangeError('kvStore: idleTimeout must be a number > 0, got 0'),
    );
    expect(() => kvStore({ store: {} as never })).toThrow(TypeError);
  });
});

describe('kv-store in marbles (virtual time)', () => {
  it('answers each command at the moment it arrives, says BYE, and the server closes', () => {
    testScheduler().run((helpers) => {
      const { writes, served } = serveMarble(helpers, kvStore(), '-s-g-m-u-x-q', {
        s: 'SET colour dark blue\n',
        g: 'GET colour\n',
        m: 'GET size\n',
        u: 'SET size\n',
        x: 'DEL colour\n',
        q: 'QUIT\n',
      });
      helpers.expectObservable(writes).toBe('-a-b-c-d-e-(f|)', {
        a: 'OK\n',
        b: 'dark blue\n',
        c: 'NIL\n',
        d: 'ERR usage: SET key value\n',
        e: 'ERR unknown command "DEL"\n',
        f: 'BYE\n',
      });
      helpers.expectObservable(served).toBe('-----------(x|)', { x: undefined });
    });
  });

  it('says TIMEOUT and hangs up after a minute without a command; the late command is refused', () => {
    testScheduler().run((helpers) => {
      const { writes, input } = serveMarble(helpers, kvStore({ idleTimeout: 60_000 }), '-g 1m g', {
        g: 'GET k\n',
      });
      helpers.expectObservable(writes).toBe('-n 59999ms (t|)', { n: 'NIL\n', t: 'TIMEOUT\n' });
      // The command sent after the close is answered with a reset, which stops the peer.
      helpers.expectSubscriptions(input.subscriptions).toBe('^ 60001ms !');
    });
  });

  it('restarts the idle timer on every command', () => {
    testScheduler().run((helpers) => {
      const { writes } = serveMarble(helpers, kvStore({ idleTimeout: 60_000 }), 'g 50s g 50s g', {
        g: 'GET k\n',
      });
      // Commands at 0, 50 001 and 100 002; the timeout 60 s after the last one.
      helpers.expectObservable(writes).toBe('n 50s n 50s n 59999ms (t|)', { n: 'NIL\n', t: 'TIMEOUT\n' });
    });
  });

  it('answers pipelined commands, and a command split across packets once it is complete', () => {
    testScheduler().run((helpers) => {
      const { writes } = serveMarble(helpers, kvStore(), 'a-b--c', {
        a: 'SET a 1\nSET b 2\nGE',
        b: 'T a',
        c: '\nGET b\n',
      });
      // (Watched for a second only: the idle timeout would answer 30 s later.)
      helpers
        .expectObservable(writes, '^ 999ms !')
        .toBe('(ab)-(cd)', { a: 'OK\n', b: 'OK\n', c: '1\n', d: '2\n' });
    });
  });

  it("ends at the client's FIN, and the server closes its side", () => {
    testScheduler().run((helpers) => {
      const { writes, served } = serveMarble(helpers, kvStore(), '-s|', { s: 'SET k v\n' });
      helpers.expectObservable(writes).toBe('-a|', { a: 'OK\n' });
      helpers.expectObservable(served).toBe('--(x|)', { x: undefined });
    });
  });
});

describe('kv-store over connectionPair (in memory)', () => {
  it('serves the session', async () => {
    const [client, server] = connectionPair();
    serveConnection(server, kvStore()).subscribe();
    expect(await runSession(client)).toEqual(REPLIES);
    await lastValueFrom(client.close());
    await lastValueFrom(server.closed);
  });

  it('says TIMEOUT after idleTimeout, in virtual time', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [client, server] = connectionPair();
      serveConnection(server, kvStore({ idleTimeout: 1000 })).subscribe();
      cold('-g', { g: 'GET k\n' }).subscribe((command) => client.writer.write(command));
      expectObservable(client.reader.lines()).toBe('-n 999ms (t|)', { n: 'NIL', t: 'TIMEOUT' });
    });
  });

  it('shares one store between the connections of one handler', async () => {
    const handler = kvStore();
    const [client1, server1] = connectionPair();
    const [client2, server2] = connectionPair();
    serveConnection(server1, handler).subscribe();
    serveConnection(server2, handler).subscribe();
    client1.writer.writeLine('SET shared yes');
    expect(await firstValueFrom(client1.reader.readLine())).toBe('OK');
    client2.writer.writeLine('GET shared');
    expect(await firstValueFrom(client2.reader.readLine())).toBe('yes');
    await Promise.all([client1, client2].map((c) => lastValueFrom(c.close())));
  });
});

describe('kv-store over a real loopback socket', () => {
  let server: Server<InetAddress, number> | undefined;
  afterEach(async () => {
    if (server !== undefined) await lastValueFrom(server.close({ closeExistingConnections: true }));
    server = undefined;
  });

  it('serves the session', async () => {
    server = await firstValueFrom(Server.create(loopback(), kvStore()));
    const where = toHostAndPort('127.0.0.1', server.listeningOn);
    expect(await lastValueFrom(withConnection(where, runSession))).toEqual(REPLIES);
  });

  it('says TIMEOUT after idleTimeout and hangs up', async () => {
    server = await firstValueFrom(Server.create(loopback(), kvStore({ idleTimeout: 100 })));
    const where = toHostAndPort('127.0.0.1', server.listeningOn);
    const lines = await lastValueFrom(
      withConnection(where, ({ reader }) => reader.lines().pipe(toArray())), // says nothing
    );
    expect(lines).toEqual(['TIMEOUT']);
  });
});
