import { spawn } from 'node:child_process';

import dns = require('node:dns');

import { getEventListeners } from 'node:events';

import net = require('node:net');
import path = require('node:path');

import {
  ConnectInterruptedError,
  ConnectTimeoutError,
  connect,
  connectSock,
  EOF,
  Tcp,
  toHostAndPort,
  toInetAddress,
} from 'rx-tcp';
import { asyncScheduler, firstValueFrom, lastValueFrom, NEVER, Subject, timer, toArray } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { type Due, deadlineQueue } from '../../src/client/deadline-queue';
import { testScheduler } from '../helpers/marbles';
import { blackhole, closedPort, listenerCounts, once, rawServer } from '../helpers/net';

/**
 * Whether `asyncScheduler`'s shared deadlines hold none: an entry due now is refused behind a later
 * one, or else finds itself the oldest. It is taken out again (its alarm rings for nothing).
 */
function noDeadlineWaits(): boolean {
  const queue = deadlineQueue(asyncScheduler)!;
  const probe: Due = { deadline: asyncScheduler.now(), older: undefined, newer: undefined, expired() {} };
  if (!queue.add(probe)) return false;
  const none = probe.older === undefined;
  queue.remove(probe);
  return none;
}

describe('connect', () => {
  let echo: Awaited<ReturnType<typeof rawServer>>;
  beforeAll(async () => {
    echo = await rawServer((socket) => socket.pipe(socket));
  });
  afterAll(() => echo.close());
  afterEach(() => jest.restoreAllMocks());

  it('is cold: nothing happens before subscribing, and each subscription makes one attempt', async () => {
    const spy = jest.spyOn(net, 'connect');
    const connect$ = connect(toHostAndPort('127.0.0.1', echo.port));
    expect(spy).not.toHaveBeenCalled();
    const [a, b] = await Promise.all([firstValueFrom(connect$), firstValueFrom(connect$)]);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(a).not.toBe(b);
    await Promise.all([lastValueFrom(a.close()), lastValueFrom(b.close())]);
  });

  it('emits one connection then completes; the connection reads, writes and closes', async () => {
    const values = await lastValueFrom(connect(toHostAndPort('127.0.0.1', echo.port)).pipe(toArray()));
    expect(values).toHaveLength(1);
    // Connected: its deadline is gone from the shared ones.
    expect(noDeadlineWaits()).toBe(true);
    const connection = values[0];
    expect(connection.remoteAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: echo.port });
    expect(connection.localAddress.family).toBe('inet');
    expect(connection.localAddress.port).toBeGreaterThan(0);
    connection.writer.writeLine('hello');
    expect(await firstValueFrom(connection.reader.readLine())).toBe('hello');
    await lastValueFrom(connection.writer.close());
    expect(await firstValueFrom(connection.reader.readLine())).toBe(EOF);
    await lastValueFrom(connection.reader.close());
    expect(connection.socket.nodeSocket.destroyed).toBe(true);
  });

  it('connects by name (localhost) and turns no-delay on', async () => {
    const socket = await firstValueFrom(connectSock(Tcp.toHostAndPort('localhost', echo.port)));
    expect(['127.0.0.1', '::1']).toContain(socket.remoteAddress.host);
    // Node records the no-delay request on the handle; the option is on as in Async.
    expect(socket.setNoDelay(true)).toBe(socket);
    expect(socket.setKeepAlive(true, 1000)).toBe(socket);
    socket.nodeSocket.destroy();
  });

  it('binds the local side first with viaLocalInterface and viaLocalPort', async () => {
    const local = await closedPort();
    const where = toHostAndPort('127.0.0.1', echo.port, {
      viaLocalInterface: '127.0.0.1',
      viaLocalPort: local,
    });
    const connection = await firstValueFrom(connect(where));
    expect(connection.localAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: local });
    await lastValueFrom(connection.close());
  });

  it('fails with ECONNREFUSED when nothing listens', async () => {
    const port = await closedPort();
    await expect(
      firstValueFrom(connect(toInetAddress({ family: 'inet', host: '127.0.0.1', port }))),
    ).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('fails with the DNS error and its code when the name does not resolve', async () => {
    // A stand-in resolver: the test must not send a query anywhere but loopback.
    jest.spyOn(dns, 'lookup').mockImplementation(((_host: string, _options: unknown, callback: Function) => {
      const error = Object.assign(new Error('getaddrinfo ENOTFOUND no.such.host.invalid'), {
        code: 'ENOTFOUND',
      });
      process.nextTick(callback, error);
    }) as never);
    await expect(firstValueFrom(connect(toHostAndPort('no.such.host.invalid', 80)))).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
  });

  it('counts DNS in the timeout', async () => {
    jest.spyOn(dns, 'lookup').mockImplementation((() => {}) as never); // a resolver that never answers
    const error = await firstValueFrom(connect(toHostAndPort('slow.invalid', 80), { timeout: 50 })).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ConnectTimeoutError);
    expect(error.message).toBe('connection attempt timeout slow.invalid:80');
  });

  describe('against a listener whose SYNs go unanswered', () => {
    let hole: Awaited<ReturnType<typeof blackhole>>;
    beforeAll(async () => {
      hole = await blackhole();
    });
    afterAll(() => hole.close());

    it('times out with ConnectTimeoutError naming the address, and destroys the socket', async () => {
      const spy = jest.spyOn(net, 'connect');
      const started = Date.now();
      const error = await firstValueFrom(
        connect(toHostAndPort('127.0.0.1', hole.port), { timeout: 200 }),
      ).catch((e) => e);
      expect(error).toBeInstanceOf(ConnectTimeoutError);
      expect(error.code).toBe('ERR_RXTCP_CONNECT_TIMEOUT');
      expect(error.message).toBe(`connection attempt timeout 127.0.0.1:${hole.port}`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      const socket = spy.mock.results[0].value as net.Socket;
      expect(socket.destroyed).toBe(true);
      expect(listenerCounts(socket)).toEqual(listenerCounts(new net.Socket()));
    });

    it('times out attempts made together with the one alarm they share, and none of their own', async () => {
      const schedule = jest.spyOn(asyncScheduler, 'schedule');
      const attempts = Array.from({ length: 8 }, () =>
        firstValueFrom(connect(toHostAndPort('127.0.0.1', hole.port), { timeout: 200 })).catch((e) => e),
      );
      const errors = await Promise.all(attempts);
      expect(errors.every((error) => error instanceof ConnectTimeoutError)).toBe(true);
      expect(schedule.mock.calls.length).toBeGreaterThan(0);
      expect(schedule.mock.calls.map(([work]) => work.name)).toEqual(
        schedule.mock.calls.map(() => 'ringTask'),
      );
      expect(noDeadlineWaits()).toBe(true);
    });

    it('is interrupted by an Observable', async () => {
      const error = await firstValueFrom(
        connect(toHostAndPort('127.0.0.1', hole.port), { interrupt: timer(30), timeout: 10_000 }),
      ).catch((e) => e);
      expect(error).toBeInstanceOf(ConnectInterruptedError);
      expect(error.message).toBe(`connection attempt aborted 127.0.0.1:${hole.port}`);
    });

    it('is interrupted by an AbortSignal, and removes its abort listener', async () => {
      const controller = new AbortController();
      const result = firstValueFrom(
        connect(toHostAndPort('127.0.0.1', hole.port), { interrupt: controller.signal }),
      );
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      const reason = new Error('user gave up');
      controller.abort(reason);
      const error = await result.catch((e) => e);
      expect(error).toBeInstanceOf(ConnectInterruptedError);
      expect(error.cause).toBe(reason);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });

    it('interrupts every attempt pending on one shared AbortSignal, with one listener on it', async () => {
      const controller = new AbortController();
      const attempts = Array.from({ length: 50 }, () =>
        firstValueFrom(
          connect(toHostAndPort('127.0.0.1', hole.port), { interrupt: controller.signal, timeout: 10_000 }),
        ).catch((e) => e),
      );
      // One listener for all of them, however many share the signal.
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      const reason = new Error('shutting down');
      controller.abort(reason);
      const errors = await Promise.all(attempts);
      expect(errors.every((error) => error instanceof ConnectInterruptedError)).toBe(true);
      expect(errors.every((error) => error.cause === reason)).toBe(true);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });

    it('fails at once on an AbortSignal aborted already, without opening a socket', async () => {
      const spy = jest.spyOn(net, 'connect');
      const error = await firstValueFrom(
        connect(toHostAndPort('127.0.0.1', hole.port), { interrupt: AbortSignal.abort() }),
      ).catch((e) => e);
      expect(error).toBeInstanceOf(ConnectInterruptedError);
      expect(spy).not.toHaveBeenCalled();
    });

    it('aborts the attempt and releases the socket when unsubscribed early', async () => {
      const spy = jest.spyOn(net, 'connect');
      const interrupt = new Subject<void>();
      const subscription = connect(toHostAndPort('127.0.0.1', hole.port), { interrupt }).subscribe({
        error: (e) => {
          throw e;
        },
      });
      const socket = spy.mock.results[0].value as net.Socket;
      expect(socket.destroyed).toBe(false);
      expect(interrupt.observed).toBe(true);
      subscription.unsubscribe();
      expect(socket.destroyed).toBe(true);
      expect(interrupt.observed).toBe(false);
      await once(socket, 'close');
      expect(listenerCounts(socket)).toEqual(listenerCounts(new net.Socket()));
    });
  });

  describe('in virtual time', () => {
    const where = () => toHostAndPort('127.0.0.1', 1);
    let scheduler: TestScheduler;
    beforeEach(() => {
      scheduler = testScheduler();
      // The attempt itself is never observed here: the virtual timer decides before any I/O event.
      jest.spyOn(net, 'connect').mockImplementation(() => new net.Socket());
    });

    it('races the attempt against the timeout through the scheduler', () => {
      scheduler.run(({ expectObservable }) => {
        expectObservable(connect(where(), { timeout: 1000 })).toBe(
          '1000ms #',
          undefined,
          new ConnectTimeoutError('127.0.0.1:1', 1000),
        );
      });
    });

    it('is interrupted by the first value of the notifier', () => {
      scheduler.run(({ cold, expectObservable }) => {
        expectObservable(connect(where(), { timeout: 1000, interrupt: cold('200ms x') })).toBe(
          '200ms #',
          undefined,
          new ConnectInterruptedError('127.0.0.1:1'),
        );
      });
    });

    it('lets the timeout win where both fire at once', () => {
      scheduler.run(({ cold, expectObservable }) => {
        expectObservable(connect(where(), { timeout: 300, interrupt: cold('300ms x') })).toBe(
          '300ms #',
          undefined,
          new ConnectTimeoutError('127.0.0.1:1', 300),
        );
      });
    });

    it('ignores a notifier that completes without a value', () => {
      scheduler.run(({ cold, expectObservable }) => {
        expectObservable(connect(where(), { timeout: 500, interrupt: cold('100ms |') })).toBe(
          '500ms #',
          undefined,
          new ConnectTimeoutError('127.0.0.1:1', 500),
        );
      });
    });

    it('never times out with timeout: Infinity', () => {
      scheduler.run(({ expectObservable }) => {
        expectObservable(connect(where(), { timeout: Number.POSITIVE_INFINITY, interrupt: NEVER })).toBe('-');
      });
    });
  });

  it.each([
    [() => connect({} as never), TypeError, /expected a WhereToConnect/],
    [
      () => connect(toHostAndPort('h', 1), { timeout: -1 }),
      RangeError,
      /timeout must be a number >= 0, got -1/,
    ],
    [() => connect(toHostAndPort('h', 1), { timeout: 'x' as never }), TypeError, /got "x"/],
    [() => connect(toHostAndPort('h', 1), { readerBufferSize: 0 }), RangeError, /readerBufferSize.*got 0/],
    [() => connect(toHostAndPort('h', 1), { bufferAgeLimit: 'never' as never }), TypeError, /got "never"/],
    [() => connect(toHostAndPort('h', 1), { interrupt: 42 as never }), TypeError, /42/],
    [() => connect(toHostAndPort('h', 1), { tls: 'yes' as never }), TypeError, /got "yes"/],
  ])('rejects bad options at the call (%#)', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });

  it('shares one AbortSignal among many attempts with one listener on it, removed when they end', async () => {
    const controller = new AbortController();
    // More than Node's limit of 10 listeners, all pending at once, then all connected.
    const attempts = Array.from({ length: 50 }, () =>
      firstValueFrom(connect(toHostAndPort('127.0.0.1', echo.port), { interrupt: controller.signal })),
    );
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    const connections = await Promise.all(attempts);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await Promise.all(connections.map((connection) => lastValueFrom(connection.close())));
    // The signal still interrupts the attempts that come after.
    const late = firstValueFrom(
      connect(toHostAndPort('127.0.0.1', echo.port), { interrupt: controller.signal }),
    ).catch((e) => e);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    expect(await late).toBeInstanceOf(ConnectInterruptedError);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('prints no MaxListenersExceededWarning for 50 attempts sharing one AbortSignal', async () => {
    // In a process of its own: Jest's sandboxed `process` does not see the warnings Node emits.
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', '-e', SHARED_SIGNAL_SCRIPT],
      { cwd: path.resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    let errors = '';
    child.stdout!.on('data', (data: Buffer) => {
      output += data.toString();
    });
    child.stderr!.on('data', (data: Buffer) => {
      errors += data.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    // Bounded: a ts-node process starting on a loaded machine, and no more.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      const code = await exited;
      if (code !== 0) throw new Error(`the child failed (${code}):\n${errors}`);
    } finally {
      clearTimeout(deadline);
    }
    const report = JSON.parse(output);
    expect(report.warnings).not.toContain('MaxListenersExceededWarning');
    expect(report).toMatchObject({ connected: 50, late: 'ERR_RXTCP_CONNECT_INTERRUPTED', listeners: 0 });
  }, 70_000);

  it('once closed, what it leaves on the destroyed socket reaches nothing of the connection', async () => {
    const connection = await firstValueFrom(connect(toHostAndPort('127.0.0.1', echo.port)));
    const socket = connection.socket.nodeSocket;
    const bare = listenerCounts(new net.Socket());
    // One listener each for the connection: the attempt took its own away.
    const ours = { data: bare.data + 1, end: bare.end + 1, error: bare.error + 1, close: bare.close + 1 };
    expect(listenerCounts(socket)).toEqual({ ...bare, ...ours });
    await lastValueFrom(connection.close());
    expect(socket.destroyed).toBe(true);
    // Events on the dead socket (none come, but whoever holds it may emit) change nothing.
    socket.emit('data', Buffer.from('late'));
    socket.emit('end');
    socket.emit('error', new Error('late'));
    socket.emit('close', false);
    expect(connection.reader.isClosed).toBe(true);
    expect(connection.writer.state).toBe('closed');
    await expect(lastValueFrom(connection.closed)).resolves.toBeUndefined();
  });
});

/**
 * 50 attempts sharing one signal to a loopback server, then one more, interrupted: prints what
 * came of it, with the warnings the process emitted, as one line of JSON.
 */
const SHARED_SIGNAL_SCRIPT = `
const { getEventListeners } = require('node:events');
const net = require('node:net');
const { connect, toHostAndPort } = require('rx-tcp');
const { firstValueFrom, lastValueFrom } = require('rxjs');
const warnings = [];
process.on('warning', (warning) => warnings.push(warning.name));
const server = net.createServer((socket) => socket.on('error', () => {}).resume());
server.listen(0, '127.0.0.1', async () => {
  const where = toHostAndPort('127.0.0.1', server.address().port);
  const controller = new AbortController();
  const connections = await Promise.all(
    Array.from({ length: 50 }, () => firstValueFrom(connect(where, { interrupt: controller.signal }))),
  );
  await Promise.all(connections.map((connection) => lastValueFrom(connection.close())));
  const late = firstValueFrom(connect(where, { interrupt: controller.signal })).catch((error) => error.code);
  controller.abort();
  const result = { connected: connections.length, late: await late };
  // Node emits a warning on a later turn than the call that caused it.
  setImmediate(() => {
    const listeners = getEventListeners(controller.signal, 'abort').length;
    console.log(JSON.stringify({ ...result, warnings, listeners }));
    server.close();
  });
});
`;
