import { type Connection, type InetAddress, PoolClosedError, toHostAndPort } from 'rx-tcp';
import { connectionPair, serveConnection } from 'rx-tcp/testing';
import {
  catchError,
  config,
  defer,
  firstValueFrom,
  interval,
  lastValueFrom,
  map,
  mergeMap,
  NEVER,
  type Observable,
  of,
  Subject,
  take,
  timer,
} from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { ConnectionPool } from '../../src/client/connection-pool';
import type { ConnectionPoolOptions, PoolEvent } from '../../src/client/pool-options';
import { cleanupsAfterEach } from '../helpers/cleanups';
import { outcome as ending, testScheduler } from '../helpers/marbles';
import { closedPort, rawServer, waitFor, within } from '../helpers/net';

/**
 * The pool's logic in virtual time, over in-memory connections made by a factory: each made
 * connection's other end is kept in `servers`; `delay` frames model the connect.
 */
function pairs(options: { delay?: number; fail?: (n: number) => unknown } = {}) {
  const servers: Connection[] = [];
  let made = 0;
  const make = () => {
    const n = ++made;
    const failure = options.fail?.(n);
    if (failure !== undefined) throw failure;
    const [client, server] = connectionPair();
    servers.push(server);
    return client;
  };
  const factory = () =>
    options.delay === undefined ? defer(() => of(make())) : timer(options.delay).pipe(map(make));
  return { factory, servers, made: () => made };
}

/**
 * Runs `body` in virtual time with a pool over `pairs`: every event is logged as
 * `frame type[:reason] open/idle/leased/waiting`, and invariant() is checked at each event and at
 * every frame up to `frames`.
 */
function run(
  options: ConnectionPoolOptions & { delay?: number; fail?: (n: number) => unknown; frames?: number },
  body: (
    pool: ConnectionPool<InetAddress>,
    helpers: Parameters<Parameters<TestScheduler['run']>[0]>[0],
    servers: Connection[],
  ) => void,
): string[] {
  const log: string[] = [];
  const scheduler = testScheduler();
  scheduler.run((helpers) => {
    const { factory, servers } = pairs(options);
    const pool = ConnectionPool.create(factory, options);
    pool.events.subscribe((event) => {
      pool.invariant();
      log.push(describeEvent(scheduler.now(), event));
    });
    interval(1)
      .pipe(take(options.frames ?? 300))
      .subscribe(() => pool.invariant());
    body(pool, helpers, servers);
  });
  return log;
}

function describeEvent(frame: number, event: PoolEvent): string {
  const { open, idle, leased, waiting } = event.stats;
  const reason = event.reason === undefined ? '' : `:${event.reason}`;
  return `${frame} ${event.type}${reason} ${open}/${idle}/${leased}/${waiting}`;
}

/** A use's outcome as a marble value: its values, then 'done' or the error's code. */
function outcome<T>(source: Observable<T>): Observable<T | string> {
  return source.pipe(catchError((error) => of(`${error.code ?? error.message}`)));
}

describe('ConnectionPool in virtual time', () => {
  it('reuses one connection for sequential uses, and lets it idle out after idleTimeout', () => {
    const log = run({ idleTimeout: 100 }, (pool, { cold, expectObservable }) => {
      const use = () => pool.use(() => cold('-(x|)'));
      expectObservable(use()).toBe('-(x|)');
      expectObservable(use(), '50ms ^').toBe('50ms -(x|)');
    });
    expect(log).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '1 released 1/1/0/0',
      '50 leased 1/0/1/0',
      '51 released 1/1/0/0',
      // 100 ms after it was last given back, not after it first was.
      '151 destroyed:idleTimeout 0/0/0/0',
    ]);
  });

  it('makes at most maxConnections; waiters are served first come first served', () => {
    const log = run({ maxConnections: 2 }, (pool, { cold, expectObservable }) => {
      const use = (name: string, frames: string) => pool.use(() => cold(`${frames}(${name}|)`));
      expectObservable(use('a', '----------')).toBe('----------(a|)');
      expectObservable(use('b', '--------------------')).toBe('--------------------(b|)');
      expectObservable(use('c', '-----'), '^').toBe('---------------(c|)'); // a's, at 10
      expectObservable(use('d', '-----'), '-^').toBe('--------------------(d|)'); // c's, at 15
      expectObservable(use('e', '-'), '--^').toBe('---------------------(e|)'); // b's, at 20
    });
    expect(log).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '0 created 2/0/1/0',
      '0 leased 2/0/2/0',
      '0 waited 2/0/2/1',
      '1 waited 2/0/2/2',
      '2 waited 2/0/2/3',
      '10 released 2/0/2/3',
      '10 leased 2/0/2/2',
      '15 released 2/0/2/2',
      '15 leased 2/0/2/1',
      '20 released 2/0/2/1',
      '20 leased 2/0/2/0',
      '20 released 2/1/1/0',
      '21 released 2/2/0/0',
      '30020 destroyed:idleTimeout 1/1/0/0', // the default idleTimeout
      '30021 destroyed:idleTimeout 0/0/0/0',
    ]);
  });

  it('acquireTimeout bounds the wait, the connect made for a waiter included; the waiter leaves the queue', () => {
    const log = run(
      { maxConnections: 1, acquireTimeout: 7, delay: 3 },
      (pool, { cold, expectObservable }) => {
        // a's connect takes 3 frames, then its f fails at 5: the connection is destroyed and a new
        // one is made for b, the first waiter, which would be made at 8: b gives up at 7.
        const failing = cold('--#', undefined, new Error('protocol'));
        expectObservable(outcome(pool.use(() => failing))).toBe('-----(e|)', { e: 'protocol' });
        expectObservable(outcome(pool.use(() => cold('(b|)')))).toBe('-------(t|)', {
          t: 'ERR_RXTCP_ACQUIRE_TIMEOUT',
        });
      },
    );
    expect(log).toEqual([
      '0 waited 1/0/0/1',
      '3 created 1/0/0/1',
      '3 leased 1/0/1/1',
      '5 destroyed:failed 0/0/0/1', // then a connect for b, at once
      '7 destroyed:cancelled 0/0/0/0',
    ]);
  });

  it('a waiter whose acquireTimeout fires is removed from the queue, and the next one is served', () => {
    const log = run({ maxConnections: 1, acquireTimeout: 10 }, (pool, { cold, expectObservable }) => {
      expectObservable(outcome(pool.use(() => cold('------------(a|)')))).toBe('------------(a|)');
      expectObservable(outcome(pool.use(() => cold('(b|)')))).toBe('----------(t|)', {
        t: 'ERR_RXTCP_ACQUIRE_TIMEOUT',
      });
      // c waits from 5, and gets a's connection at 12, before its own timeout at 15.
      expectObservable(outcome(pool.use(() => cold('-(c|)'))), '-----^').toBe('-------------(c|)');
    });
    expect(log.slice(0, 7)).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '0 waited 1/0/1/1',
      '5 waited 1/0/1/2',
      '12 released 1/0/1/1', // b left the queue at 10
      '12 leased 1/0/1/0',
      '13 released 1/1/0/0',
    ]);
  });

  it('refuses at once with PoolFullError past maxWaiting', () => {
    const log = run({ maxConnections: 1, maxWaiting: 1 }, (pool, { cold, expectObservable }) => {
      expectObservable(outcome(pool.use(() => cold('-----(a|)')))).toBe('-----(a|)');
      expectObservable(outcome(pool.use(() => cold('(b|)')))).toBe('-----(b|)');
      expectObservable(outcome(pool.use(() => cold('(c|)')))).toBe('(f|)', { f: 'ERR_RXTCP_POOL_FULL' });
    });
    expect(log.slice(0, 3)).toEqual(['0 created 1/0/0/0', '0 leased 1/0/1/0', '0 waited 1/0/1/1']);
  });

  it('close({ drainTimeout }): waiters fail at once, running uses finish or are cut off at the timeout', () => {
    const closed = { c: 'ERR_RXTCP_POOL_CLOSED' };
    const log = run({ maxConnections: 2 }, (pool, { cold, expectObservable }) => {
      expectObservable(outcome(pool.use(() => cold('----------(a|)')))).toBe('----------(a|)');
      const b = cold(`${'-'.repeat(100)}(b|)`);
      expectObservable(outcome(pool.use(() => b))).toBe(`${'-'.repeat(55)}(c|)`, closed);
      expectObservable(outcome(pool.use(() => cold('(w|)'))), '--^').toBe('-----(c|)', closed);
      cold('-----x').subscribe(() => pool.close({ drainTimeout: 50 }));
      expectObservable(ending(pool.closeFinished)).toBe(`${'-'.repeat(55)}(d|)`, { d: 'done' });
      expectObservable(outcome(pool.use(() => cold('(l|)'))), '------^').toBe('------(c|)', closed);
    });
    expect(log).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '0 created 2/0/1/0',
      '0 leased 2/0/2/0',
      '2 waited 2/0/2/1',
      '10 destroyed:poolClosed 1/0/1/0', // given back after close(): closed, not idle
      '55 destroyed:drainTimeout 0/0/0/0',
      '55 closed 0/0/0/0',
    ]);
  });

  it('close(): idle connections close at once (FIN), and closeFinished waits for their sockets', () => {
    const log = run({}, (pool, { cold, expectObservable }, servers) => {
      expectObservable(pool.use(() => cold('-(a|)'))).toBe('-(a|)');
      const close = cold('---x').pipe(map(() => pool.close()));
      expectObservable(close.pipe(map((result) => result === pool.close()))).toBe('---s', { s: true });
      expectObservable(ending(pool.closeFinished)).toBe('---(d|)', { d: 'done' });
      // The server sees the FIN: its reader ends.
      expectObservable(
        defer(() => servers[0].reader.lines()),
        '--^',
      ).toBe('---|');
    });
    expect(log).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '1 released 1/1/0/0',
      '3 destroyed:poolClosed 0/0/0/0',
      '3 closed 0/0/0/0',
    ]);
  });

  it('a connection whose peer sent FIN or reset while idle is destroyed, never handed out again', () => {
    for (const leave of ['fin', 'reset'] as const) {
      const log = run({}, (pool, { cold, expectObservable }, servers) => {
        expectObservable(pool.use(() => cold('-(a|)'))).toBe('-(a|)');
        cold('-----x').subscribe(() =>
          leave === 'fin' ? servers[0].close().subscribe() : servers[0].destroy(),
        );
        expectObservable(
          pool.use(() => cold('-(b|)').pipe(map((b) => `${b}${servers.length}`))),
          '----------^',
        ).toBe('-----------(b|)', { b: 'b2' }); // on a second connection
      });
      expect(log.slice(0, 6)).toEqual([
        '0 created 1/0/0/0',
        '0 leased 1/0/1/0',
        '1 released 1/1/0/0',
        '5 destroyed:peerDone 0/0/0/0',
        '10 created 1/0/0/0',
        '10 leased 1/0/1/0',
      ]);
    }
  });

  it('a connection whose peer left while leased is destroyed when given back', () => {
    const log = run({}, (pool, { cold, expectObservable }, servers) => {
      cold('--x').subscribe(() => servers[0].close().subscribe());
      expectObservable(pool.use(() => cold('-----(a|)'))).toBe('-----(a|)');
    });
    expect(log).toEqual(['0 created 1/0/0/0', '0 leased 1/0/1/0', '5 destroyed:peerDone 0/0/0/0']);
  });

  it("a failed connect is that use's error, not retried; the first waiter gets a connect of its own", () => {
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    const fail = (n: number) => (n === 1 ? refused : undefined);
    const log = run({ maxConnections: 1, delay: 3, fail }, (pool, { cold, expectObservable }) => {
      expectObservable(outcome(pool.use(() => cold('(a|)')))).toBe('---(e|)', { e: 'ECONNREFUSED' });
      expectObservable(outcome(pool.use(() => cold('(b|)')))).toBe('------(b|)');
    });
    expect(log.slice(0, 5)).toEqual([
      '0 waited 1/0/0/1',
      '3 destroyed:connectFailed 0/0/0/1',
      '6 created 1/0/0/0',
      '6 leased 1/0/1/0',
      '6 released 1/1/0/0',
    ]);
    // A factory that throws at once fails its use at once, with what it threw.
    run({ fail: () => new RangeError('no') }, (pool, { cold, expectObservable }) => {
      expectObservable(outcome(pool.use(() => cold('(a|)')))).toBe('(e|)', { e: 'no' });
    });
  });

  it("f's error, or its throw, is the use's error; the connection is reset", () => {
    const log = run({}, (pool, { cold, expectObservable }, servers) => {
      expectObservable(outcome(pool.use(() => cold('-a#', undefined, new Error('bad reply'))))).toBe(
        '-a(e|)',
        {
          a: 'a',
          e: 'bad reply',
        },
      );
      expectObservable(defer(() => outcome(servers[0].reader)).pipe(map(String)), '-^').toBe('--(r|)', {
        r: 'ECONNRESET',
      });
      const thrower = () => {
        throw new TypeError('bug in f');
      };
      expectObservable(outcome(pool.use(thrower)), '-----^').toBe('-----(e|)', { e: 'bug in f' });
    });
    expect(log).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '2 destroyed:failed 0/0/0/0',
      '5 created 1/0/0/0',
      '5 leased 1/0/1/0',
      '5 destroyed:failed 0/0/0/0',
    ]);
  });

  it('a use unsubscribed while f runs resets its connection; one unsubscribed as f completes gives it back', () => {
    const log = run({}, (pool, { cold, expectObservable }) => {
      expectObservable(
        pool.use(() => cold('-a-b-c|')),
        '^--!',
      ).toBe('-a-');
      // take(1), as firstValueFrom does, on an f that completes with its value: reused.
      expectObservable(pool.use(() => cold('-(x|)')).pipe(take(1)), '-----^').toBe('------(x|)');
      // take(1) on an f that goes on: cut off in the turn it took its value.
      expectObservable(pool.use(() => cold('-x-y|')).pipe(take(1)), '----------^').toBe('-----------(x|)');
    });
    expect(log).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '3 destroyed:unsubscribed 0/0/0/0',
      '5 created 1/0/0/0',
      '5 leased 1/0/1/0',
      '6 released 1/1/0/0',
      '10 leased 1/0/1/0',
      '11 destroyed:unsubscribed 0/0/0/0',
    ]);
  });

  it('a connection given back with unread bytes, a read under way or its writer closed is not reused', () => {
    const log = run({}, (pool, { cold, expectObservable }, servers) => {
      cold('-x').subscribe(() => servers[0].writer.write('unread'));
      expectObservable(pool.use(() => cold('--(a|)'))).toBe('--(a|)');
      expectObservable(
        pool.use((c) => {
          c.reader.subscribe();
          return cold('-(b|)');
        }),
        '-----^',
      ).toBe('------(b|)');
      expectObservable(
        pool.use((c) => {
          c.writer.close();
          return cold('-(c|)');
        }),
        '----------^',
      ).toBe('-----------(c|)');
    });
    expect(log.filter((line) => line.includes('destroyed'))).toEqual([
      '2 destroyed:unusable 0/0/0/0',
      '6 destroyed:unusable 0/0/0/0',
      '11 destroyed:unusable 0/0/0/0',
    ]);
  });

  it('stats is a snapshot of the counts', () => {
    const seen: object[] = [];
    run({ maxConnections: 1 }, (pool, { cold }) => {
      const snapshot = pool.stats;
      pool.use(() => cold('--(a|)')).subscribe();
      pool.use(() => cold('--(b|)')).subscribe();
      seen.push(snapshot, pool.stats);
      cold('---x').subscribe(() => seen.push(pool.stats));
      cold('-----x').subscribe(() => seen.push(pool.stats));
    });
    expect(seen).toEqual([
      { open: 0, idle: 0, leased: 0, waiting: 0 },
      { open: 1, idle: 0, leased: 1, waiting: 1 },
      { open: 1, idle: 0, leased: 1, waiting: 0 },
      { open: 1, idle: 1, leased: 0, waiting: 0 },
    ]);
  });

  it('events completes after closed; a late subscriber gets the completion', () => {
    run({}, (pool, { cold, expectObservable }) => {
      expectObservable(pool.events.pipe(map((event) => event.type[0]))).toBe('-(clr)----(dz|)', {
        c: 'c',
        l: 'l',
        r: 'r',
        d: 'd',
        z: 'c',
      });
      cold('-x').subscribe(() => pool.use(() => cold('(a|)')).subscribe());
      cold('----------x').subscribe(() => pool.close());
      expectObservable(pool.events, '-----------^').toBe('-----------|');
    });
  });
});

describe('ConnectionPool: callbacks that throw', () => {
  let unhandled: unknown[];
  beforeEach(() => {
    unhandled = [];
    config.onUnhandledError = (error) => unhandled.push(error);
  });
  afterEach(() => {
    config.onUnhandledError = null;
  });

  it("a throw from a use's next is its error; its connection is cut off", () => {
    const errors: string[] = [];
    const log = run({}, (pool, { cold }) => {
      pool
        .use(() => cold('-a-b|'))
        .subscribe({
          next: () => {
            throw new Error('in next');
          },
          error: (error) => errors.push(error.message),
        });
    });
    expect(errors).toEqual(['in next']);
    expect(log).toContain('1 destroyed:unsubscribed 0/0/0/0');
    expect(unhandled).toEqual([]);
  });

  it("an error nobody takes (no error callback, or one that throws, a complete that throws) is close()'s error", () => {
    for (const subscribe of [
      (use: Observable<string>) => use.subscribe(() => {}),
      (use: Observable<string>) =>
        use.subscribe({
          error: (error) => {
            throw new Error(`rethrown ${error.message}`);
          },
        }),
    ]) {
      let closeError = '';
      run({}, (pool, { cold }) => {
        subscribe(pool.use(() => cold('-#', undefined, new Error('lost'))));
        cold('---x').subscribe(() =>
          pool.close().subscribe({ error: (error) => (closeError = error.message) }),
        );
      });
      expect(closeError).toMatch(/lost/);
    }
    let closeError = '';
    run({}, (pool, { cold }) => {
      pool
        .use(() => cold('-(a|)'))
        .subscribe({
          complete: () => {
            throw new Error('in complete');
          },
        });
      cold('---x').subscribe(() =>
        pool.close().subscribe({ error: (error) => (closeError = error.message) }),
      );
    });
    expect(closeError).toBe('in complete');
    expect(unhandled).toEqual([]);
  });

  it('once the pool is closed, such an error goes to RxJS, as any unhandled error', () => {
    run({}, (pool) => {
      pool.close();
      pool.use(() => of(1)).subscribe(() => {});
    });
    expect(unhandled.map((error) => (error as { code: string }).code)).toEqual(['ERR_RXTCP_POOL_CLOSED']);
  });

  it('a throw from an events subscriber fails the use the event is about, else is its own error', () => {
    const errors: string[] = [];
    const eventErrors: string[] = [];
    const log = run({ idleTimeout: 10 }, (pool, { cold }) => {
      pool.events.subscribe({
        next: (event) => {
          if (event.type === 'leased' || event.type === 'destroyed') throw new Error(`on ${event.type}`);
        },
        error: (error) => eventErrors.push(error.message),
      });
      pool.use(() => cold('-(a|)')).subscribe({ error: (error) => errors.push(error.message) });
    });
    expect(errors).toEqual(['on leased']);
    expect(eventErrors).toEqual(['on destroyed']); // an idle timeout: about no use
    expect(log).toEqual([
      '0 created 1/0/0/0',
      '0 leased 1/0/1/0',
      '0 released 1/1/0/0', // f never ran: the connection is clean
      '10 destroyed:idleTimeout 0/0/0/0',
    ]);
    expect(unhandled).toEqual([]);
  });
});

describe('ConnectionPool: arguments', () => {
  const where = toHostAndPort('127.0.0.1', 1);
  it.each([
    [{ maxConnections: 0 }, RangeError, /maxConnections must be an integer >= 1, got 0/],
    [{ maxConnections: 1.5 }, RangeError, /maxConnections must be an integer >= 1, got 1.5/],
    [{ idleTimeout: -1 }, RangeError, /idleTimeout must be a number >= 0, got -1/],
    [{ acquireTimeout: '5' }, TypeError, /acquireTimeout must be a number, got "5"/],
    [{ maxWaiting: -1 }, RangeError, /maxWaiting must be an integer >= 0, got -1/],
    [{ timeout: -5 }, RangeError, /timeout must be a number >= 0, got -5/],
    [{ readerBufferSize: 0 }, RangeError, /readerBufferSize/],
  ])('ConnectionPool.create throws at the call on %j', (options, type, message) => {
    const create = () => ConnectionPool.create(where, options as ConnectionPoolOptions);
    expect(create).toThrow(type);
    expect(create).toThrow(message);
    expect(create).toThrow(/^ConnectionPool.create: /);
  });

  it('checks where, f and close options at the call', () => {
    expect(() => ConnectionPool.create('localhost:80' as never)).toThrow(
      /ConnectionPool.create: where must be a WhereToConnect or a function .*, got "localhost:80"/,
    );
    const pool = ConnectionPool.create(where, { maxWaiting: Number.POSITIVE_INFINITY, idleTimeout: 0 });
    expect(() => pool.use('f' as never)).toThrow(
      new TypeError('ConnectionPool.use: f must be a function, got "f"'),
    );
    expect(() => pool.close({ drainTimeout: -1 })).toThrow(RangeError);
    expect(pool.stats).toEqual({ open: 0, idle: 0, leased: 0, waiting: 0 }); // nothing connected yet
    pool.close();
  });
});

/**
 * A raw line echo server on loopback that counts what it accepted and how many connections it
 * holds at once. A line `bye` is answered and then the connection closed (FIN); `reset` resets it.
 */
async function lineServer() {
  const counts = { accepted: 0, live: 0, maxLive: 0 };
  const server = await rawServer((socket) => {
    counts.accepted++;
    counts.maxLive = Math.max(counts.maxLive, ++counts.live);
    socket.on('close', () => counts.live--);
    socket.on('end', () => socket.end());
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      for (let at = pending.indexOf('\n'); at >= 0; at = pending.indexOf('\n')) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 1);
        if (line === 'reset') socket.resetAndDestroy();
        else socket.write(`${line}\n`);
        if (line === 'bye') socket.end();
      }
    });
  });
  return { ...server, counts, where: toHostAndPort('127.0.0.1', server.port) };
}

/** One round trip: writes `line`, reads the answer. */
function ask(line: string) {
  return ({ reader, writer }: Connection) => {
    writer.writeLine(line);
    return reader.readLine();
  };
}

describe('ConnectionPool over loopback', () => {
  const { add } = cleanupsAfterEach();
  let server: Awaited<ReturnType<typeof lineServer>>;
  beforeEach(async () => {
    server = await lineServer();
    add(() => server.close());
  });
  const pool = (options: ConnectionPoolOptions = {}) => {
    const made = ConnectionPool.create(server.where, options);
    add(() =>
      within(lastValueFrom(made.close({ drainTimeout: 0 }), { defaultValue: undefined }), 5000, 'close'),
    );
    return made;
  };

  it('reuses one connection for sequential uses: one accept', async () => {
    const p = pool();
    for (let i = 0; i < 5; i++) expect(await lastValueFrom(p.use(ask(`hello ${i}`)))).toBe(`hello ${i}`);
    expect(await firstValueFrom(p.use(ask('first')))).toBe('first'); // given back as it completes
    expect(server.counts.accepted).toBe(1);
    expect(p.stats).toEqual({ open: 1, idle: 1, leased: 0, waiting: 0 });
    p.invariant();
  });

  it('keeps to maxConnections under 200 concurrent uses, and never mixes their answers', async () => {
    const p = pool({ maxConnections: 8 });
    const uses = Array.from({ length: 200 }, (_, id) =>
      lastValueFrom(
        p.use(async (connection) => {
          const answers: string[] = [];
          for (const round of [1, 2]) {
            connection.writer.writeLine(`${id}.${round}`);
            answers.push(String(await firstValueFrom(connection.reader.readLine())));
          }
          return answers;
        }),
      ),
    );
    expect(p.stats).toEqual({ open: 8, idle: 0, leased: 0, waiting: 192 });
    p.invariant();
    const answers = await Promise.all(uses);
    expect(answers).toEqual(Array.from({ length: 200 }, (_, id) => [`${id}.1`, `${id}.2`]));
    expect(server.counts.maxLive).toBeLessThanOrEqual(8);
    expect(server.counts.accepted).toBe(8);
    expect(p.stats).toEqual({ open: 8, idle: 8, leased: 0, waiting: 0 });
    p.invariant();
  });

  it('never hands out again a connection whose use failed, or whose peer closed or reset it while idle', async () => {
    const p = pool();
    const failure = new Error('bad answer');
    const failed = p.use((connection) =>
      ask('one')(connection).pipe(
        map(() => {
          throw failure;
        }),
      ),
    );
    await expect(lastValueFrom(failed)).rejects.toBe(failure);
    expect(await lastValueFrom(p.use(ask('two')))).toBe('two');
    expect(server.counts.accepted).toBe(2);
    await waitFor(() => server.counts.live === 1, 5000, 'the failed connection closed');

    for (const leave of ['bye', 'reset']) {
      const before = server.counts.accepted;
      // The server answers, then closes (or resets) the connection, now idle in the pool.
      await lastValueFrom(p.use(ask(leave)).pipe(catchError(() => of('reset before the answer'))));
      await waitFor(() => p.stats.open === 0, 5000, 'the pool to drop the connection');
      expect(await lastValueFrom(p.use(ask('again')))).toBe('again');
      expect(server.counts.accepted).toBe(before + 1);
      p.invariant();
    }
  });

  it("a failed connect is that use's error", async () => {
    const p = ConnectionPool.create(toHostAndPort('127.0.0.1', await closedPort()));
    await expect(lastValueFrom(p.use(ask('x')))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(p.stats).toEqual({ open: 0, idle: 0, leased: 0, waiting: 0 });
    await lastValueFrom(p.close(), { defaultValue: undefined });
  });

  it('close(): lets the running use finish, fails the waiter, and leaves no connection open', async () => {
    const p = pool({ maxConnections: 2 });
    await Promise.all([lastValueFrom(p.use(ask('warm 1'))), lastValueFrom(p.use(ask('warm 2')))]);
    const go = new Subject<void>();
    const running = lastValueFrom(
      p.use((c) =>
        go.pipe(
          take(1),
          mergeMap(() => ask('slow')(c)),
        ),
      ),
    );
    const other = lastValueFrom(
      p.use((c) =>
        go.pipe(
          take(1),
          mergeMap(() => ask('other')(c)),
        ),
      ),
    );
    const waiting = expect(lastValueFrom(p.use(ask('never')))).rejects.toBeInstanceOf(PoolClosedError);
    expect(p.stats).toEqual({ open: 2, idle: 0, leased: 2, waiting: 1 });
    const closed = lastValueFrom(p.close());
    await waiting;
    await expect(lastValueFrom(p.use(ask('late')))).rejects.toBeInstanceOf(PoolClosedError);
    go.next();
    expect(await running).toBe('slow');
    expect(await other).toBe('other');
    await within(closed, 5000, 'close'); // emits once everything is closed
    expect(p.stats).toEqual({ open: 0, idle: 0, leased: 0, waiting: 0 });
    p.invariant();
    await waitFor(() => server.counts.live === 0, 5000, 'the server to see every connection gone');
  });

  it('close({ drainTimeout }) cuts off a use still running: PoolClosedError, its connection reset', async () => {
    const p = pool();
    const stuck = expect(lastValueFrom(p.use(() => NEVER))).rejects.toBeInstanceOf(PoolClosedError);
    await waitFor(() => p.stats.leased === 1, 5000, 'the connection');
    await within(lastValueFrom(p.close({ drainTimeout: 20 }), { defaultValue: undefined }), 5000, 'close');
    await stuck;
    await waitFor(() => server.counts.live === 0, 5000, 'the server to see it gone');
  });
});

describe('ConnectionPool over connectionPair, through the factory form', () => {
  it('serves uses in memory, reusing one connection, and closes it', async () => {
    const servers: Connection[] = [];
    const pool = ConnectionPool.create(() =>
      defer(() => {
        const [client, server] = connectionPair();
        servers.push(server);
        serveConnection(server, (_address, reader, writer) => reader.transfer(writer)).subscribe();
        return of(client);
      }),
    );
    expect(await lastValueFrom(pool.use(ask('one')))).toBe('one');
    expect(await lastValueFrom(pool.use(ask('two')))).toBe('two');
    expect(servers.length).toBe(1);
    await lastValueFrom(pool.close(), { defaultValue: undefined });
    await lastValueFrom(servers[0].closed, { defaultValue: undefined });
    pool.invariant();
  });
});
