import * as net from 'node:net';
import { type Connection, type InetAddress, toHostAndPort, type WhereToConnect } from 'rx-tcp';
import { connectionPair } from 'rx-tcp/testing';
import {
  asyncScheduler,
  lastValueFrom,
  map,
  NEVER,
  type Observable,
  of,
  type SchedulerLike,
  type Subscription,
  take,
  throwError,
  timer,
} from 'rxjs';
import type { RunHelpers, TestScheduler } from 'rxjs/testing';
import {
  type PersistentConnectionEvent,
  type PersistentConnectionOptions,
  persistentConnection,
  persistentConnectionsOf,
} from '../../src/client/persistent-connection';
import { outcome, testScheduler } from '../helpers/marbles';
import { closedPort, waitFor } from '../helpers/net';

/** Never dialled in the virtual-time tests: their attempts are the test's own. */
const WHERE = toHostAndPort('127.0.0.1', 7000);
const NO_JITTER = { initialDelay: 100, factor: 2, maxDelay: 30_000, jitter: false };

/** An error like a refused connect, numbered so that a test can tell which attempt made it. */
function refused(n: number): Error {
  return Object.assign(new Error(`refused ${n}`), { code: 'ECONNREFUSED' });
}

/** What one attempt does: fail at once, fail later, connect. */
type Step = (n: number) => Observable<Connection<InetAddress>>;
const fail: Step = (n) => throwError(() => refused(n));

/**
 * The attempt function of a test: the `n`th call plays `steps[n - 1]` (the last step repeats),
 * and each call is recorded with the virtual time and the address it was given.
 */
function scripted(scheduler: SchedulerLike, steps: Step[]) {
  const calls: { at: number; to: string }[] = [];
  const attempt = (to: WhereToConnect<InetAddress>) => {
    calls.push({ at: scheduler.now(), to: to.toString() });
    const n = calls.length;
    return steps[Math.min(n, steps.length) - 1](n);
  };
  return { attempt, calls };
}

/** A step that connects with an in-memory pair, the peer side kept in `peers`; it leaves `after` ms later if given. */
function pairs(peers: Connection[], connections: Connection[], after?: number): Step {
  return () => {
    const [client, peer] = connectionPair();
    peers.push(peer);
    connections.push(client);
    if (after !== undefined) timer(after).subscribe(() => peer.close().subscribe());
    return of(client);
  };
}

/** onEvent that records every event with the time it came. */
function recorder(scheduler: SchedulerLike) {
  const events: (PersistentConnectionEvent & { at: number })[] = [];
  return { events, onEvent: (e: PersistentConnectionEvent) => events.push({ ...e, at: scheduler.now() }) };
}

describe('persistentConnection in virtual time', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = testScheduler();
  });
  /** `scheduler.run`, bounded at 100 s of virtual time: a machine that never stops fails, not hangs. */
  const run = (test: (helpers: RunHelpers) => void): void =>
    scheduler.run((helpers) => {
      scheduler.maxFrames = 100_000;
      test(helpers);
    });

  it('waits initialDelay after the first failure, then factor times the last, capped at maxDelay', () => {
    run(({ expectObservable }) => {
      const { attempt, calls } = scripted(scheduler, [fail]);
      const retry = { ...NO_JITTER, maxDelay: 500, maxAttempts: 7 };
      expectObservable(persistentConnectionsOf(WHERE, attempt, { retry })).toBe(
        '2200ms #',
        undefined,
        refused(7),
      );
      scheduler.flush();
      // Waits 100, 200, 400, then 500 (the cap) each.
      expect(calls.map((c) => c.at)).toEqual([0, 100, 300, 700, 1200, 1700, 2200]);
    });
  });

  it('errors with the last attempt’s own error once maxAttempts attempts in a row failed', () => {
    run(({ cold, expectObservable }) => {
      const { attempt, calls } = scripted(scheduler, [(n) => cold('--#', undefined, refused(n))]);
      const { events, onEvent } = recorder(scheduler);
      const source = persistentConnectionsOf(WHERE, attempt, {
        retry: { ...NO_JITTER, maxAttempts: 3 },
        onEvent,
      });
      // Attempts at 0, 102 and 304, each failing two frames later; no wait after the last.
      expectObservable(source).toBe('306ms #', undefined, refused(3));
      scheduler.flush();
      expect(calls.map((c) => c.at)).toEqual([0, 102, 304]);
      expect(events.map((e) => `${e.type} ${e.attempt}`)).toEqual([
        'connecting 1',
        'retrying 1',
        'connecting 2',
        'retrying 2',
        'connecting 3',
      ]);
    });
  });

  it('errors at once with maxAttempts 1', () => {
    run(({ expectObservable }) => {
      const { attempt } = scripted(scheduler, [fail]);
      expectObservable(persistentConnectionsOf(WHERE, attempt, { retry: { maxAttempts: 1 } })).toBe(
        '#',
        undefined,
        refused(1),
      );
    });
  });

  it('restarts the backoff after a connection was made and ended: the next attempt waits initialDelay', () => {
    run(({ expectObservable }) => {
      const peers: Connection[] = [];
      const connections: Connection[] = [];
      const { attempt, calls } = scripted(scheduler, [fail, fail, pairs(peers, connections, 200), fail]);
      const source = persistentConnectionsOf(WHERE, attempt, { retry: { ...NO_JITTER, maxAttempts: 3 } });
      // Fails at 0 and 100, connects at 300; the peer leaves at 500; then 100, 100, 200 again.
      expectObservable(source.pipe(map((c) => connections.indexOf(c)))).toBe(
        '300ms c 599ms #',
        { c: 0 },
        refused(6),
      );
      scheduler.flush();
      expect(calls.map((c) => c.at)).toEqual([0, 100, 300, 600, 700, 900]);
      expect(connections).toHaveLength(1);
      expect(connections[0].writer.state).toBe('closed'); // the library closed its side
    });
  });

  it('retries a server that accepts and hangs up at once at initialDelay, never in a tight loop', () => {
    run(({ expectObservable }) => {
      const peers: Connection[] = [];
      const connections: Connection[] = [];
      const { attempt } = scripted(scheduler, [pairs(peers, connections, 0)]);
      const source = persistentConnectionsOf(WHERE, attempt, { retry: NO_JITTER });
      expectObservable(source.pipe(map((c) => connections.indexOf(c))), '^ 350ms !').toBe(
        'a 99ms b 99ms c 99ms d',
        { a: 0, b: 1, c: 2, d: 3 },
      );
      scheduler.flush();
      expect(connections).toHaveLength(4);
    });
  });

  it('connects again after its own side destroyed the connection', () => {
    run(({ expectObservable }) => {
      const peers: Connection[] = [];
      const connections: Connection[] = [];
      const { attempt } = scripted(scheduler, [pairs(peers, connections)]);
      const source = persistentConnectionsOf(WHERE, attempt, { retry: NO_JITTER });
      scheduler.schedule(() => connections[0].destroy(), 50);
      expectObservable(source.pipe(map((c) => connections.indexOf(c))), '^ 200ms !').toBe('a 149ms b', {
        a: 0,
        b: 1,
      });
    });
  });

  it('draws each wait from [delay/2, delay] with jitter, from the random source given', () => {
    run(() => {
      const { attempt, calls } = scripted(scheduler, [fail]);
      const draws = [0, 0.5, 0.75, 0.999];
      const random = () => draws.shift()!;
      const retry = { initialDelay: 100, factor: 2, maxAttempts: 5, random };
      persistentConnectionsOf(WHERE, attempt, { retry }).subscribe({ error: () => {} });
      scheduler.flush();
      // 50 of 100, 150 of 200, 350 of 400, 799.6 of 800.
      expect(calls.map((c) => c.at)).toEqual([0, 50, 200, 550, 1349.6]);
    });
  });

  it('tells onEvent of every step, in order, with the attempt, delay, error and address', () => {
    run(() => {
      const peers: Connection[] = [];
      const connections: Connection[] = [];
      const { attempt } = scripted(scheduler, [fail, pairs(peers, connections, 1000), () => NEVER]);
      const { events, onEvent } = recorder(scheduler);
      const subscription = persistentConnectionsOf(WHERE, attempt, { retry: NO_JITTER, onEvent }).subscribe();
      scheduler.schedule(() => subscription.unsubscribe(), 5000);
      scheduler.flush();
      const address = '127.0.0.1:7000';
      expect(events).toEqual([
        { type: 'connecting', attempt: 1, address, at: 0 },
        { type: 'retrying', attempt: 1, delay: 100, error: refused(1), address, at: 0 },
        { type: 'connecting', attempt: 2, address, at: 100 },
        { type: 'connected', attempt: 2, address, at: 100 },
        { type: 'disconnected', attempt: 2, delay: 100, address, at: 1100 },
        { type: 'connecting', attempt: 1, address, at: 1200 },
      ]);
    });
  });

  it('asks a where function before each attempt; its throw, error or empty answer is a failed attempt', () => {
    run(() => {
      const answers: (() => unknown)[] = [
        () => {
          throw refused(1);
        },
        () => throwError(() => refused(2)),
        () => [],
        () => [toHostAndPort('127.0.0.1', 7004), toHostAndPort('127.0.0.1', 7005)],
      ];
      const peers: Connection[] = [];
      const connections: Connection[] = [];
      const { attempt, calls } = scripted(scheduler, [pairs(peers, connections)]);
      const where = () => answers.shift()!() as WhereToConnect<InetAddress>[];
      const { events, onEvent } = recorder(scheduler);
      const subscription = persistentConnectionsOf(where, attempt, { retry: NO_JITTER, onEvent }).subscribe();
      scheduler.flush();
      subscription.unsubscribe();
      // Only the fourth answer reached an attempt: its first value.
      expect(calls).toEqual([{ at: 700, to: '127.0.0.1:7004' }]);
      expect(events.map(({ type, attempt, delay, address }) => ({ type, attempt, delay, address }))).toEqual([
        { type: 'retrying', attempt: 1, delay: 100, address: undefined },
        { type: 'retrying', attempt: 2, delay: 200, address: undefined },
        { type: 'retrying', attempt: 3, delay: 400, address: undefined },
        { type: 'connecting', attempt: 4, delay: undefined, address: '127.0.0.1:7004' },
        { type: 'connected', attempt: 4, delay: undefined, address: '127.0.0.1:7004' },
      ]);
      expect(events.slice(0, 2).map((e) => e.error)).toEqual([refused(1), refused(2)]);
      expect(String(events[2].error)).toMatch(/where completed without a WhereToConnect/);
    });
  });

  it('cancels the wait when unsubscribed during it: no attempt afterwards, the timer unsubscribed', () => {
    run(({ expectObservable }) => {
      const timers: Subscription[] = [];
      const spy: SchedulerLike = {
        now: () => scheduler.now(),
        schedule: (work, delay, state) => {
          const scheduled = asyncScheduler.schedule(work as never, delay, state);
          timers.push(scheduled);
          return scheduled;
        },
      };
      const { attempt, calls } = scripted(scheduler, [fail]);
      const source = persistentConnectionsOf(WHERE, attempt, { retry: NO_JITTER, scheduler: spy });
      expectObservable(source, '^ 150ms !').toBe('');
      scheduler.schedule(() => {
        expect(timers).toHaveLength(2); // the wait after attempt 1, done; the one after attempt 2
        expect(timers.every((t) => t.closed)).toBe(true);
      }, 152);
      scheduler.flush();
      expect(calls.map((c) => c.at)).toEqual([0, 100]);
    });
  });

  it('cancels the attempt under way when unsubscribed during it', () => {
    run(({ cold, expectObservable, expectSubscriptions }) => {
      const hanging = cold('-');
      const { attempt } = scripted(scheduler, [fail, () => hanging as never]);
      expectObservable(persistentConnectionsOf(WHERE, attempt, { retry: NO_JITTER }), '^ 200ms !').toBe('');
      expectSubscriptions(hanging.subscriptions).toBe('100ms ^ 100ms !');
    });
  });

  it('closes the connection it emitted when the subscription ends: the peer sees FIN', () => {
    run(({ expectObservable }) => {
      const peers: Connection[] = [];
      const connections: Connection[] = [];
      const { attempt, calls } = scripted(scheduler, [pairs(peers, connections)]);
      const subscription = persistentConnectionsOf(WHERE, attempt).subscribe();
      scheduler.schedule(() => subscription.unsubscribe(), 300);
      expectObservable(peers[0].reader).toBe('300ms |'); // at its end: FIN
      expectObservable(outcome(connections[0].closed)).toBe('300ms (x|)', { x: 'done' });
      scheduler.flush();
      expect(calls).toHaveLength(1);
    });
  });

  it('closes the connection when the subscriber takes just one', () => {
    run(({ expectObservable }) => {
      const peers: Connection[] = [];
      const connections: Connection[] = [];
      const { attempt } = scripted(scheduler, [pairs(peers, connections)]);
      const source = persistentConnectionsOf(WHERE, attempt).pipe(take(1));
      expectObservable(source.pipe(map((c) => connections.indexOf(c)))).toBe('(c|)', { c: 0 });
      scheduler.flush();
      expect(connections[0].writer.state).toBe('closed');
    });
  });

  it.each([
    ['connecting', 0, 0],
    ['retrying', 1, 0],
    ['connected', 2, 100],
    ['disconnected', 2, 600],
  ] as const)(
    'errors with what onEvent threw at %s, closing the connection, and tries no more',
    (type, tries, at) => {
      run(({ expectObservable }) => {
        const peers: Connection[] = [];
        const connections: Connection[] = [];
        const { attempt, calls } = scripted(scheduler, [fail, pairs(peers, connections, 500)]);
        const thrown = new Error(`onEvent failed at ${type}`);
        const onEvent = (e: PersistentConnectionEvent) => {
          if (e.type === type) throw thrown;
        };
        const source = persistentConnectionsOf(WHERE, attempt, { retry: NO_JITTER, onEvent });
        expectObservable(source.pipe(map((c) => connections.indexOf(c)))).toBe(
          type === 'disconnected' ? '100ms c 499ms #' : `${at}ms #`,
          { c: 0 },
          thrown,
        );
        scheduler.flush();
        expect(calls).toHaveLength(tries);
        for (const connection of connections) expect(connection.writer.state).toBe('closed');
      });
    },
  );

  it("errors with what the random source threw, as onEvent's throw", () => {
    run(({ expectObservable }) => {
      const { attempt } = scripted(scheduler, [fail]);
      const thrown = new Error('no entropy');
      const random = () => {
        throw thrown;
      };
      expectObservable(persistentConnectionsOf(WHERE, attempt, { retry: { random } })).toBe(
        '#',
        undefined,
        thrown,
      );
    });
  });
});

describe('persistentConnection arguments', () => {
  it.each([
    [
      { retry: { initialDelay: -1 } },
      RangeError,
      'retry.initialDelay must be a number from 0 to 2147483647, got -1',
    ],
    [
      { retry: { maxDelay: Infinity } },
      RangeError,
      'retry.maxDelay must be a number from 0 to 2147483647, got Infinity',
    ],
    [{ retry: { initialDelay: '5' } }, TypeError, 'retry.initialDelay must be a number, got "5"'],
    [{ retry: { factor: 0.5 } }, RangeError, 'retry.factor must be a finite number >= 1, got 0.5'],
    [{ retry: { jitter: 1 } }, TypeError, 'retry.jitter must be a boolean, got 1'],
    [
      { retry: { maxAttempts: 0 } },
      RangeError,
      'retry.maxAttempts must be a positive integer or Infinity, got 0',
    ],
    [{ retry: { random: 4 } }, TypeError, 'retry.random must be a function, got 4'],
    [{ retry: 5 }, TypeError, 'retry must be an object, got 5'],
    [{ onEvent: 'log' }, TypeError, 'onEvent must be a function, got "log"'],
    [{ timeout: -5 }, RangeError, 'timeout must be a number >= 0, got -5'],
    [{ readerBufferSize: 0 }, RangeError, 'readerBufferSize must be an integer >= 1, got 0'],
  ])('throws at the call on %j', (options, type, message) => {
    for (const where of [WHERE, () => [WHERE]]) {
      expect(() => persistentConnection(where, options as PersistentConnectionOptions)).toThrow(
        new type(`persistentConnection: ${message}`),
      );
    }
  });

  it('throws at the call on a where that is neither a WhereToConnect nor a function', () => {
    expect(() => persistentConnection('127.0.0.1:80' as never)).toThrow(
      new TypeError(
        'persistentConnection: where must be a WhereToConnect (from toHostAndPort, toFile, …) or a function returning one, got "127.0.0.1:80"',
      ),
    );
  });

  it('fails the attempt when a where function gives something else than a WhereToConnect', async () => {
    const retry = { maxAttempts: 1 };
    await expect(lastValueFrom(persistentConnection(() => 42 as never, { retry }))).rejects.toThrow(
      TypeError,
    );
    await expect(lastValueFrom(persistentConnection(() => ['x:1'] as never, { retry }))).rejects.toThrow(
      'persistentConnection: expected a WhereToConnect from toHostAndPort, toFile, …, got "x:1"',
    );
  });
});

/**
 * A `node:net` server on 127.0.0.1 that can be stopped and started again on its port. A client's
 * FIN closes its side too (`allowHalfOpen: false`), so `open()` is 0 once every client has left.
 */
class RestartableServer {
  /** Every socket accepted, in order. */
  readonly sockets: net.Socket[] = [];
  /** Those whose client sent FIN. */
  readonly ended = new Set<net.Socket>();
  port = 0;
  private server: net.Server | undefined;

  constructor(private readonly onConnection: (socket: net.Socket, index: number) => void = () => {}) {}

  /**
   * Listens on `port` (the OS chooses with 0). Binding the port a stopped server had can fail
   * while something else holds it for a moment: tried again, at most 50 times.
   */
  async start(port = 0): Promise<void> {
    for (let tries = 1; ; tries++) {
      const server = net.createServer((socket) => {
        this.sockets.push(socket);
        socket.on('error', () => {});
        socket.on('end', () => this.ended.add(socket));
        this.onConnection(socket, this.sockets.length - 1);
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', resolve);
        });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries === 50) throw error;
        await lastValueFrom(timer(20));
        continue;
      }
      this.server = server;
      this.port = (server.address() as net.AddressInfo).port;
      return;
    }
  }

  /** Stops listening and drops every connection. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const { server } = this;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Connections still open on the server's side. */
  open(): number {
    return this.sockets.filter((socket) => !socket.destroyed).length;
  }
}

describe('persistentConnection over loopback', () => {
  let server: RestartableServer;
  let subscription: Subscription | undefined;
  let connections: Connection<InetAddress>[];
  let events: PersistentConnectionEvent[];
  let failure: unknown;

  /** Subscribes, keeping what comes in `connections`, `events` and `failure`. */
  function follow(
    where: Parameters<typeof persistentConnection<InetAddress>>[0],
    options: PersistentConnectionOptions = {},
  ) {
    subscription = persistentConnection(where, {
      retry: { initialDelay: 5, maxDelay: 20 },
      ...options,
      onEvent: (e) => events.push(e),
    }).subscribe({ next: (c) => connections.push(c), error: (e) => (failure = e) });
  }

  const here = () => toHostAndPort('127.0.0.1', server.port);
  const kinds = () => events.map((e) => `${e.type} ${e.attempt}`);

  beforeEach(() => {
    connections = [];
    events = [];
    failure = undefined;
    subscription = undefined;
  });

  afterEach(async () => {
    subscription?.unsubscribe();
    // Nothing left behind: every connection the client made is closed on both sides.
    await waitFor(() => connections.every((c) => c.socket.nodeSocket.destroyed), 5000, 'the client to close');
    await waitFor(() => server.open() === 0, 5000, 'the server to see every client leave');
    await server.stop();
  });

  it.each([
    ['closes the connection', (socket: net.Socket) => socket.end()],
    ['resets the connection', (socket: net.Socket) => socket.resetAndDestroy()],
  ])('connects again after the server %s', async (_, hangUp) => {
    // Hung up once the client has spoken: a reset sent sooner may reach the client's connect.
    server = new RestartableServer((socket, index) => {
      if (index === 0) socket.once('data', () => hangUp(socket));
    });
    await server.start();
    follow(here());
    await waitFor(() => connections.length === 1, 5000, 'the first connection');
    connections[0].writer.writeLine('hello');
    await waitFor(() => connections.length === 2, 5000, 'the second connection');
    await waitFor(() => server.sockets.length === 2, 5000, 'the server to accept it');
    await waitFor(() => connections[0].socket.nodeSocket.destroyed, 5000, 'the library to close the first');
    expect(kinds()).toEqual(['connecting 1', 'connected 1', 'disconnected 1', 'connecting 1', 'connected 1']);
    expect(events[2].delay).toBeGreaterThanOrEqual(2.5);
    expect(events[2].delay).toBeLessThanOrEqual(5);
    expect(failure).toBeUndefined();
  });

  it('connects again once the server is back on the same port after a stop', async () => {
    server = new RestartableServer();
    await server.start();
    const { port } = server;
    follow(here());
    await waitFor(() => connections.length === 1, 5000, 'the first connection');
    await server.stop();
    await waitFor(() => events.some((e) => e.type === 'retrying'), 5000, 'a refused attempt');
    await waitFor(() => connections[0].socket.nodeSocket.destroyed, 5000, 'the library to close the first');
    await server.start(port);
    await waitFor(() => connections.length === 2, 5000, 'the connection to the server back');
    await waitFor(() => server.sockets.length === 2, 5000, 'the server to accept it');
    const retrying = events.filter((e) => e.type === 'retrying');
    expect(retrying.every((e) => (e.error as NodeJS.ErrnoException).code === 'ECONNREFUSED')).toBe(true);
    expect(events.at(-1)).toEqual({
      type: 'connected',
      attempt: retrying.length + 1,
      address: `127.0.0.1:${port}`,
    });
  });

  it('fails over through the where function: the first address refuses, the second accepts', async () => {
    server = new RestartableServer();
    await server.start();
    const closed = toHostAndPort('127.0.0.1', await closedPort());
    const addresses = [closed, here()];
    let asked = 0;
    follow(() => [addresses[asked++ % 2]]);
    await waitFor(() => connections.length === 1, 5000, 'a connection');
    expect(events.map(({ type, attempt, address }) => ({ type, attempt, address }))).toEqual([
      { type: 'connecting', attempt: 1, address: closed.toString() },
      { type: 'retrying', attempt: 1, address: closed.toString() },
      { type: 'connecting', attempt: 2, address: here().toString() },
      { type: 'connected', attempt: 2, address: here().toString() },
    ]);
    expect((events[1].error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(connections[0].remoteAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: server.port });
  });

  it('errors with the refusal after maxAttempts attempts against a closed port', async () => {
    server = new RestartableServer();
    const closed = toHostAndPort('127.0.0.1', await closedPort());
    const error = await lastValueFrom(
      persistentConnection(closed, {
        retry: { initialDelay: 2, maxAttempts: 3 },
        onEvent: (e) => events.push(e),
      }),
    ).catch((e: NodeJS.ErrnoException) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(kinds()).toEqual(['connecting 1', 'retrying 1', 'connecting 2', 'retrying 2', 'connecting 3']);
  });

  it('closes the connection it emitted when unsubscribed (the server sees EOF), and tries no more', async () => {
    server = new RestartableServer();
    await server.start();
    follow(here());
    await waitFor(() => connections.length === 1, 5000, 'a connection');
    await waitFor(() => server.sockets.length === 1, 5000, 'the server to accept it');
    connections[0].writer.writeLine('last words');
    const received = new Promise<string>((resolve) => {
      let text = '';
      server.sockets[0].on('data', (chunk: Buffer) => (text += chunk)).on('end', () => resolve(text));
    });
    subscription!.unsubscribe();
    expect(await received).toBe('last words\n'); // flushed, then FIN
    await waitFor(() => server.open() === 0, 5000, 'the server to close its side');
    const seen = events.length;
    // A reconnect would come initialDelay (5 ms) after the close: none within 20 times that.
    await lastValueFrom(timer(100));
    expect(server.sockets).toHaveLength(1);
    expect(events).toHaveLength(seen);
    expect(kinds()).toEqual(['connecting 1', 'connected 1']);
  });
});
