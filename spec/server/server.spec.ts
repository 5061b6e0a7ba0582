import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  connect,
  EOF,
  type InetAddress,
  onFile,
  onPortChosenByOs,
  type Reader,
  Server,
  type ServerEvent,
  type ServerOptions,
  toFile,
  toHostAndPort,
  type Writer,
  withConnection,
} from 'rx-tcp';
import {
  config,
  defer,
  firstValueFrom,
  lastValueFrom,
  NEVER,
  of,
  take,
  throwError,
  timer,
  toArray,
} from 'rxjs';
import { once, waitFor } from '../helpers/net';
import { loopback, tempDir } from '../helpers/servers';

type Inet = Server<InetAddress, number>;
const servers: Server<never, unknown>[] = [];

async function start(
  handler: Parameters<typeof Server.create<InetAddress, number>>[1],
  options: ServerOptions<InetAddress> = {},
): Promise<Inet> {
  const server = await firstValueFrom(Server.create(loopback(), handler, options));
  servers.push(server as never);
  return server;
}

/** A raw client: connects, and collects everything until end or reset. */
function client(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | undefined;
  socket.on('data', (c) => chunks.push(c));
  socket.on('error', (e) => (error = e));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    connected: once(socket, 'connect'),
    received: () => Buffer.concat(chunks).toString(),
    error: () => error,
    ended,
  };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    await lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {});
  }
  config.onUnhandledError = null;
});

/** Reads one line and answers it twice (Async's classic). */
const answerTwice = (_address: unknown, reader: Reader, writer: Writer) =>
  defer(async () => {
    const line = await firstValueFrom(reader.readLine());
    if (line === EOF) return;
    writer.writeLine(`${line} 1`);
    writer.writeLine(`${line} 2`);
  });

describe('Server.create', () => {
  it("serves Async's classic: a line read, answered twice, then EOF at the client", async () => {
    const server = await start(answerTwice);
    const answers = await lastValueFrom(
      withConnection(toHostAndPort('127.0.0.1', server.listeningOn), ({ reader, writer }) => {
        writer.writeLine('hello');
        return defer(async () => [
          await firstValueFrom(reader.readLine()),
          await firstValueFrom(reader.readLine()),
          await firstValueFrom(reader.readLine()),
        ]);
      }),
    );
    expect(answers).toEqual(['hello 1', 'hello 2', EOF]);
  });

  it('reports the port chosen by the OS, on all interfaces', async () => {
    const server = await firstValueFrom(Server.create(onPortChosenByOs, answerTwice));
    servers.push(server as never);
    expect(server.listeningOn).toBeGreaterThan(0);
    expect(server.listeningSocket.address()).toMatchObject({ port: server.listeningOn });
    const answer = await lastValueFrom(
      withConnection(toHostAndPort('127.0.0.1', server.listeningOn), ({ reader, writer }) => {
        writer.writeLine('x');
        return reader.readLine();
      }),
    );
    expect(answer).toBe('x 1');
  });

  it('runs at most maxConnections handlers; the others wait unread and are never reset', async () => {
    const gates: (() => void)[] = [];
    let active = 0;
    let maxActive = 0;
    let served = 0;
    const server = await start(
      (_address, reader, writer) =>
        defer(async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          const line = await firstValueFrom(reader.readLine());
          await new Promise<void>((open) => gates.push(open));
          writer.writeLine(`served ${String(line)}`);
          served++;
          active--;
        }),
      { maxConnections: 2 },
    );
    const events: ServerEvent<InetAddress>[] = [];
    server.events.subscribe((e) => events.push(e));
    const accepted: net.Socket[] = [];
    server.listeningSocket.on('connection', (socket: net.Socket) => accepted.push(socket));
    const clients = Array.from({ length: 5 }, () => client(server.listeningOn));
    await Promise.all(clients.map((c) => c.connected));
    clients.forEach((c, i) => {
      c.socket.end(`client ${i}\n`);
    });
    await waitFor(() => active === 2 && events.filter((e) => e.type === 'limitReached').length === 3);
    expect(server.numConnections).toBe(2);
    server.invariant();
    // The three waiting clients are connected, unanswered, and not reset; their lines are still
    // in the kernel, unread, while the two served have had theirs read.
    expect(clients.filter((c) => c.received() === '').length).toBe(5);
    await waitFor(() => accepted.slice(0, 2).every((socket) => socket.bytesRead > 0));
    expect(accepted.map((socket) => socket.bytesRead > 0)).toEqual([true, true, false, false, false]);
    // Every slot taken: sockets are accepted paused.
    const listening = server.listeningSocket as net.Server & { pauseOnConnect: boolean };
    expect(listening.pauseOnConnect).toBe(true);
    for (let round = 0; round < 5; round++) {
      await waitFor(() => gates.length > 0, 5000, `a handler waiting in round ${round}`);
      gates.shift()!();
      await waitFor(() => served > round, 5000, `round ${round}`);
      expect(active).toBeLessThanOrEqual(2);
    }
    await Promise.all(clients.map((c) => c.ended));
    expect(maxActive).toBe(2);
    expect(served).toBe(5);
    expect(clients.map((c) => c.error())).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(clients.map((c) => c.received()).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `served client ${i}\n`),
    );
    await waitFor(() => server.numConnections === 0);
    server.invariant();
    // Slots free and nobody waiting: accepted sockets read at once again (resuming costs time).
    expect(listening.pauseOnConnect).toBe(false);
  });

  it('gives freed slots to waiting connections in the order they were accepted', async () => {
    const order: string[] = [];
    const server = await start(
      (_address, reader) =>
        defer(async () => {
          const line = await firstValueFrom(reader.readLine());
          order.push(String(line));
        }),
      { maxConnections: 1, maxPendingConnections: 8 },
    );
    let accepted = 0;
    server.events.subscribe((e) => {
      if (e.type === 'accepted') accepted++;
    });
    // Connected one after the other, so that the server accepts them in this order; each has
    // sent its line, and all but the first wait for the single slot.
    const clients = [];
    for (let i = 0; i < 5; i++) {
      const c = client(server.listeningOn);
      await c.connected;
      c.socket.end(`client ${i}\n`);
      await waitFor(() => accepted === i + 1);
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.ended));
    expect(order).toEqual([0, 1, 2, 3, 4].map((i) => `client ${i}`));
    await waitFor(() => server.numConnections === 0);
    server.invariant();
  });

  it('closes connections beyond maxPendingConnections at once (event rejected)', async () => {
    const server = await start(() => NEVER, { maxConnections: 1, maxPendingConnections: 1 });
    const events: string[] = [];
    server.events.subscribe((e) => events.push(e.type));
    const first = client(server.listeningOn);
    await waitFor(() => server.numConnections === 1);
    const second = client(server.listeningOn);
    await waitFor(() => events.includes('limitReached'));
    const third = client(server.listeningOn);
    await third.ended; // closed by the server straight away
    expect(events).toEqual(['accepted', 'accepted', 'limitReached', 'rejected']);
    expect(second.received()).toBe('');
    server.invariant();
    first.socket.destroy();
    second.socket.destroy();
  });

  it.each([
    [{}, 511],
    [{ maxPendingConnections: 1 }, 511],
    [{ backlog: 2048, maxPendingConnections: 1 }, 2048],
  ])('listens with a backlog apart from maxPendingConnections: %j gives %d', async (options, backlog) => {
    const listen = jest.spyOn(net.Server.prototype, 'listen');
    try {
      await start(() => NEVER, options);
      expect(listen).toHaveBeenCalledWith(expect.objectContaining({ backlog }), expect.any(Function));
    } finally {
      listen.mockRestore();
    }
  });

  describe('onHandlerError', () => {
    const boom = new Error('handler failed');

    it("'raise' (the default) stops the server: closeFinished errors, new connections are refused", async () => {
      const server = await start(() => throwError(() => boom));
      const finished = lastValueFrom(server.closeFinished).catch((e) => e);
      const c = client(server.listeningOn);
      await c.ended;
      expect(await finished).toBe(boom);
      expect(server.isClosed()).toBe(true);
      await expect(lastValueFrom(server.close())).rejects.toBe(boom);
      const refused = client(server.listeningOn);
      await refused.ended;
      expect(refused.error()?.code).toBe('ECONNREFUSED');
      server.invariant();
    });

    it("'raise' with nobody observing goes to RxJS's unhandled-error path", async () => {
      const unhandled = jest.fn();
      config.onUnhandledError = unhandled;
      const server = await start(() => {
        throw boom;
      });
      client(server.listeningOn);
      await waitFor(() => unhandled.mock.calls.length === 1);
      expect(unhandled).toHaveBeenCalledWith(boom);
    });

    it("'ignore' goes on serving, and reports the error in events", async () => {
      let calls = 0;
      const server = await start(
        (address, reader, writer) =>
          ++calls === 1 ? throwError(() => boom) : answerTwice(address, reader, writer),
        { onHandlerError: 'ignore' },
      );
      const events: ServerEvent<InetAddress>[] = [];
      server.events.subscribe((e) => events.push(e));
      const failing = client(server.listeningOn);
      await failing.ended;
      const ok = await lastValueFrom(
        withConnection(toHostAndPort('127.0.0.1', server.listeningOn), ({ reader, writer }) => {
          writer.writeLine('still here');
          return reader.readLine();
        }),
      );
      expect(ok).toBe('still here 1');
      const failure = events.find((e) => e.type === 'handlerError');
      expect(failure?.error).toBe(boom);
      expect(failure?.address).toMatchObject({ family: 'inet', host: '127.0.0.1' });
      expect(server.isClosed()).toBe(false);
    });

    it('{ call } is told the address and error, and goes on serving', async () => {
      const call = jest.fn();
      const server = await start(
        () => {
          throw boom;
        },
        { onHandlerError: { call } },
      );
      const c = client(server.listeningOn);
      await c.connected;
      const port = c.socket.localPort;
      await c.ended;
      await waitFor(() => call.mock.calls.length === 1);
      expect(call.mock.calls[0][0]).toEqual({ family: 'inet', host: '127.0.0.1', port });
      expect(call.mock.calls[0][1]).toBe(boom);
      expect(server.isClosed()).toBe(false);
    });

    it('{ call } that throws stops the server with what it threw', async () => {
      const rethrown = new Error('rethrown');
      const server = await start(() => throwError(() => boom), {
        onHandlerError: {
          call: () => {
            throw rethrown;
          },
        },
      });
      const finished = lastValueFrom(server.closeFinished).catch((e) => e);
      client(server.listeningOn);
      expect(await finished).toBe(rethrown);
      expect(server.isClosed()).toBe(true);
    });
  });

  describe('close', () => {
    it('is idempotent with one shared result, refuses new connections, and calls no handler after it', async () => {
      const handler = jest.fn(() => NEVER);
      const server = await start(handler, { maxConnections: 1 });
      const running = client(server.listeningOn);
      await waitFor(() => server.numConnections === 1);
      const waiting = client(server.listeningOn);
      await waiting.connected;
      await waitFor(() => (server as unknown as { queued: Set<unknown> }).queued.size === 1);
      const a = server.close();
      expect(server.close()).toBe(a);
      expect(server.closeFinished).toBe(a);
      await lastValueFrom(a);
      expect(server.isClosed()).toBe(true);
      await waiting.ended; // dropped: its handler is never called
      const refused = client(server.listeningOn);
      await refused.ended;
      expect(refused.error()?.code).toBe('ECONNREFUSED');
      expect(handler).toHaveBeenCalledTimes(1);
      // Without closeExistingConnections the running one is left to its handler.
      expect(running.socket.destroyed).toBe(false);
      expect(server.numConnections).toBe(1);
      server.invariant();
      running.socket.destroy();
    });

    it('closeExistingConnections closes running connections, and closeFinished waits for them', async () => {
      const server = await start(() => NEVER);
      const clients = [client(server.listeningOn), client(server.listeningOn)];
      await waitFor(() => server.numConnections === 2);
      await lastValueFrom(server.close({ closeExistingConnections: true }));
      expect(server.numConnections).toBe(0);
      await Promise.all(clients.map((c) => c.ended.then(() => expect(c.error()).toBeUndefined())));
    });

    it('drainTimeout lets quick handlers finish and closes the others after the timeout', async () => {
      const server = await start((_address, reader, writer) =>
        reader.readLine().pipe((line) =>
          defer(async () => {
            const text = await firstValueFrom(line);
            if (text === 'quick') writer.writeLine('done');
            else await firstValueFrom(NEVER);
          }),
        ),
      );
      const quick = client(server.listeningOn);
      const slow = client(server.listeningOn);
      await waitFor(() => server.numConnections === 2);
      const started = Date.now();
      // The quick handler must read, answer and finish within drainTimeout: a round trip that a
      // loaded machine can stall for a few hundred ms, hence a whole second.
      const closing = lastValueFrom(server.close({ drainTimeout: 1000 }));
      quick.socket.write('quick\n');
      slow.socket.write('slow\n');
      await quick.ended;
      expect(quick.received()).toBe('done\n');
      await closing;
      expect(Date.now() - started).toBeGreaterThanOrEqual(990);
      await slow.ended;
      expect(server.numConnections).toBe(0);
    });
  });

  it('treats a handler that throws synchronously as a handler error, and closes its connection', async () => {
    const server = await start(
      () => {
        throw new Error('sync');
      },
      { onHandlerError: 'ignore' },
    );
    const c = client(server.listeningOn);
    await c.ended;
    expect(c.error()).toBeUndefined();
    await waitFor(() => server.numConnections === 0);
  });

  it('stops with the error, rather than throw into Node, when an accepted socket cannot be wired', async () => {
    const handler = jest.fn(() => NEVER);
    const server = await start(handler);
    const finished = lastValueFrom(server.closeFinished).catch((e) => e);
    const failure = new Error('wiring failed');
    // The transport resumes the socket as it wires it: make that throw, once.
    const resume = jest.spyOn(net.Socket.prototype, 'resume').mockImplementationOnce(() => {
      throw failure;
    });
    // A client that does not read: its own socket is never resumed.
    const socket = net.connect({ host: '127.0.0.1', port: server.listeningOn });
    socket.on('error', () => {});
    try {
      await once(socket, 'close'); // the accepted socket was destroyed
      expect(await finished).toBe(failure);
      expect(handler).not.toHaveBeenCalled();
      const refused = client(server.listeningOn);
      await refused.ended;
      expect(refused.error()?.code).toBe('ECONNREFUSED');
    } finally {
      resume.mockRestore();
      socket.destroy();
    }
  });

  it('closes the connection when the peer resets, even while the handler runs', async () => {
    let seen: Writer | undefined;
    const server = await start((_address, _reader, writer) => {
      seen = writer;
      return NEVER;
    });
    const c = client(server.listeningOn);
    await waitFor(() => seen !== undefined);
    c.socket.resetAndDestroy();
    await lastValueFrom(seen!.consumerLeft);
    expect(server.numConnections).toBe(1); // the handler still runs: the slot is its own
    server.invariant();
  });

  it('closes a connection idle for idleTimeout', async () => {
    const server = await start((_address, reader) => reader.lines(), { idleTimeout: 100 });
    const c = client(server.listeningOn);
    await c.connected;
    c.socket.write('keep alive\n');
    const started = Date.now();
    await c.ended;
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    await waitFor(() => server.numConnections === 0);
  });

  it('emits events for logs and metrics', async () => {
    const server = await start(answerTwice, { onHandlerError: 'ignore' });
    const events: ServerEvent<InetAddress>[] = [];
    server.events.subscribe((e) => events.push(e));
    await lastValueFrom(
      withConnection(toHostAndPort('127.0.0.1', server.listeningOn), ({ reader, writer }) => {
        writer.writeLine('a');
        return reader.readLine();
      }),
    );
    await waitFor(() => events.some((e) => e.type === 'connectionClosed'));
    await lastValueFrom(server.close());
    expect(events.map(({ type, numConnections }) => [type, numConnections])).toEqual([
      ['accepted', 0],
      ['connectionClosed', 0],
      ['closed', 0],
    ]);
    expect(events[0].address).toMatchObject({ family: 'inet', host: '127.0.0.1' });
  });

  it('invariant() throws when the bookkeeping is inconsistent', async () => {
    const server = await start(() => of(1));
    server.invariant();
    // A socket waiting for a slot while every slot is free.
    const { queued } = server as unknown as { queued: Map<unknown, null> };
    const stray = {};
    queued.set(stray, null);
    expect(() => server.invariant()).toThrow(/Server invariant broken: waiting while a slot is free/);
    queued.delete(stray);
    server.invariant();
  });

  it('keeps its bookkeeping when connections end in any order', async () => {
    const gates = new Map<string, () => void>();
    const server = await start((_address, reader) =>
      defer(async () => {
        const name = await firstValueFrom(reader.readLine());
        await new Promise<void>((open) => gates.set(String(name), open));
      }),
    );
    const clients = ['a', 'b', 'c', 'd'].map((name) => {
      const peer = client(server.listeningOn);
      peer.socket.write(`${name}\n`);
      return peer;
    });
    await waitFor(() => gates.size === 4);
    expect(server.numConnections).toBe(4);
    // The middle ones first, then the first: each leaves a hole the last one fills.
    for (const [name, left] of [
      ['b', 3],
      ['a', 2],
      ['d', 1],
    ] as const) {
      gates.get(name)!();
      await waitFor(() => server.numConnections === left, 5000, `${name} ended`);
      server.invariant();
    }
    // The one left is still served: closing the server closes it.
    await lastValueFrom(server.close({ closeExistingConnections: true }));
    await Promise.all(clients.map((c) => c.ended));
    expect(server.numConnections).toBe(0);
  });

  it('invariant() throws when a connection is not where the server keeps it', async () => {
    const server = await start(() => NEVER);
    const peer = client(server.listeningOn);
    await peer.connected;
    await waitFor(() => server.numConnections === 1);
    const { runs } = server as unknown as { runs: { slot: number }[] };
    runs[0].slot = 1;
    expect(() => server.invariant()).toThrow(/Server invariant broken: a connection out of its slot/);
    runs[0].slot = 0;
    server.invariant();
  });

  it('fails with EADDRINUSE when the port is taken, without emitting', async () => {
    const server = await start(() => of(1));
    const taken = Server.create(
      (await import('rx-tcp')).WhereToListen.create({
        socketType: 'inet',
        address: { family: 'inet', host: '127.0.0.1', port: server.listeningOn },
        listeningOn: (b) => b.port,
      }),
      () => of(1),
    );
    await expect(firstValueFrom(taken)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('abandons the server when unsubscribed before it listens', async () => {
    const { dir, remove } = tempDir();
    try {
      const file = path.join(dir, 'abandoned.sock');
      const subscription = Server.create(onFile(file), () => of(1)).subscribe();
      subscription.unsubscribe();
      await firstValueFrom(timer(50));
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      remove();
    }
  });

  it.each([
    [() => Server.create({} as never, () => of(1)), TypeError, /expected a WhereToListen/],
    [() => Server.create(onPortChosenByOs, 'x' as never), TypeError, /handler must be a function, got "x"/],
    [() => Server.create(onPortChosenByOs, () => of(1), { maxConnections: 0 }), RangeError, /got 0/],
    [() => Server.create(onPortChosenByOs, () => of(1), { maxPendingConnections: -1 }), RangeError, /got -1/],
    [() => Server.create(onPortChosenByOs, () => of(1), { backlog: 1.5 }), RangeError, /backlog.*got 1.5/],
    [
      () => Server.create(onPortChosenByOs, () => of(1), { idleTimeout: 0 }),
      RangeError,
      /idleTimeout.*got 0/,
    ],
    [
      () => Server.create(onPortChosenByOs, () => of(1), { onHandlerError: 'crash' as never }),
      TypeError,
      /got "crash"/,
    ],
  ])('rejects bad arguments at the call (%#)', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});

describe('Server on a Unix socket', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  it('serves a round trip, reports its path, and removes the file on close', async () => {
    const file = path.join(tmp.dir, 'app.sock');
    const server = await firstValueFrom(Server.create(onFile(file), answerTwice));
    expect(server.listeningOn).toBe(file);
    const answers = await lastValueFrom(
      withConnection(toFile(file), ({ reader, writer }) => {
        writer.writeLine('unix');
        return reader.lines().pipe(take(2), toArray());
      }),
    );
    expect(answers).toEqual(['unix 1', 'unix 2']);
    await lastValueFrom(server.close());
    expect(fs.existsSync(file)).toBe(false);
  });

  it('reports the Unix addresses of both ends: the path where bound or connected to, else unnamed', async () => {
    const file = path.join(tmp.dir, 'addresses.sock');
    const seen: unknown[] = [];
    const server = await firstValueFrom(
      Server.create(onFile(file), (address, reader) => {
        seen.push(address);
        return reader;
      }),
    );
    const events: unknown[] = [];
    server.events.subscribe((event) => {
      if (event.type === 'accepted') events.push(event.address);
    });
    const client = await lastValueFrom(
      withConnection(toFile(file), (connection) => [[connection.localAddress, connection.remoteAddress]]),
    );
    expect(client).toEqual([
      { family: 'unix', path: '' },
      { family: 'unix', path: file },
    ]);
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual([{ family: 'unix', path: '' }]);
    expect(events).toEqual([undefined]); // accepted: a Unix peer has no address to report
    await lastValueFrom(server.close());
  });

  it('aborts a Unix-socket connection without a TCP reset to send', async () => {
    const file = path.join(tmp.dir, 'abort.sock');
    const server = await firstValueFrom(Server.create(onFile(file), () => NEVER));
    const connection = await firstValueFrom(connect(toFile(file)));
    connection.writer.write('dropped');
    expect(() => connection.destroy()).not.toThrow();
    await lastValueFrom(connection.closed);
    await lastValueFrom(server.close({ closeExistingConnections: true }));
  });

  it('takes over a socket file left behind by a dead process', async () => {
    const file = path.join(tmp.dir, 'stale.sock');
    // A process that listens, then dies without cleaning up.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await once(child, 'exit');
    expect(fs.lstatSync(file).isSocket()).toBe(true);
    const server = await firstValueFrom(Server.create(onFile(file), answerTwice));
    const answer = await lastValueFrom(
      withConnection(toFile(file), ({ reader, writer }) => {
        writer.writeLine('took over');
        return reader.readLine();
      }),
    );
    expect(answer).toBe('took over 1');
    await lastValueFrom(server.close());
  });

  it('refuses a path something listens on (EADDRINUSE), and leaves it alone', async () => {
    const file = path.join(tmp.dir, 'live.sock');
    const live = net.createServer((s) => s.on('error', () => {}).end('live\n'));
    await new Promise<void>((resolve) => live.listen(file, resolve));
    try {
      await expect(firstValueFrom(Server.create(onFile(file), answerTwice))).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      const still = await lastValueFrom(withConnection(toFile(file), ({ reader }) => reader.readLine()));
      expect(still).toBe('live');
    } finally {
      await new Promise<void>((resolve) => live.close(() => resolve()));
    }
  });

  it('never removes a path that is not a socket', async () => {
    const file = path.join(tmp.dir, 'data.txt');
    fs.writeFileSync(file, 'precious');
    await expect(firstValueFrom(Server.create(onFile(file), answerTwice))).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    expect(fs.readFileSync(file, 'utf8')).toBe('precious');
  });
});
