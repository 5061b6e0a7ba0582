import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import net = require('node:net');

import {
  type Connection,
  type InetAddress,
  listen,
  onFile,
  onPortChosenByOs,
  toFile,
  toHostAndPort,
  type UnixAddress,
  withConnection,
} from 'rx-tcp';
import { firstValueFrom, lastValueFrom, mergeMap, type Subscription, take, toArray } from 'rxjs';
import { takeoverLockName } from '../../src/node/socket-file';
import { once, waitFor, within } from '../helpers/net';
import { loopback, tempDir } from '../helpers/servers';

describe('listen', () => {
  let subscription: Subscription | undefined;
  afterEach(() => subscription?.unsubscribe());

  it('is cold: subscribing binds and listens, onListening tells the port', async () => {
    const spy = jest.spyOn(net, 'createServer');
    const listen$ = listen(loopback());
    expect(spy).not.toHaveBeenCalled();
    let port = 0;
    const connections: Connection<InetAddress>[] = [];
    subscription = listen(loopback(), { onListening: (p) => (port = p) }).subscribe((c) =>
      connections.push(c),
    );
    expect(listen$).toBeDefined();
    await waitFor(() => port > 0, 5000, 'listening');
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    const answer = lastValueFrom(
      withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) => {
        writer.writeLine('question');
        return reader.readLine();
      }),
    );
    await waitFor(() => connections.length === 1, 5000, 'accepted');
    const [server] = connections;
    expect(server.remoteAddress).toMatchObject({ family: 'inet', host: '127.0.0.1' });
    expect(server.localAddress).toEqual({ family: 'inet', host: '127.0.0.1', port });
    expect(await firstValueFrom(server.reader.readLine())).toBe('question');
    server.writer.writeLine('answer');
    await lastValueFrom(server.close());
    expect(await answer).toBe('answer');
  });

  it('reports the own address of a Unix connection as the path bound, and its peer as unnamed', async () => {
    const tmp = tempDir();
    try {
      const file = path.join(tmp.dir, 'listen.sock');
      const connections: Connection<UnixAddress>[] = [];
      let listening = '';
      subscription = listen(onFile(file), { onListening: (p) => (listening = p) }).subscribe((c) =>
        connections.push(c),
      );
      await waitFor(() => listening === file, 5000, 'listening');
      const done = lastValueFrom(
        withConnection(toFile(file), ({ reader }) => reader),
        { defaultValue: undefined },
      );
      await waitFor(() => connections.length === 1, 5000, 'accepted');
      expect([connections[0].localAddress, connections[0].remoteAddress]).toEqual([
        { family: 'unix', path: file },
        { family: 'unix', path: '' },
      ]);
      await lastValueFrom(connections[0].close());
      await done;
    } finally {
      subscription?.unsubscribe();
      tmp.remove();
    }
  });

  it('composes with mergeMap into a server, and unsubscribing closes the listening socket', async () => {
    let port = 0;
    subscription = listen(onPortChosenByOs, { onListening: (p) => (port = p) })
      .pipe(mergeMap((c) => c.reader.transfer(c.writer).pipe(mergeMap(() => c.close())), 10))
      .subscribe();
    await waitFor(() => port > 0, 5000, 'listening');
    const echoed = await lastValueFrom(
      withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) => {
        writer.writeLine('one');
        writer.writeLine('two');
        return reader.lines().pipe(take(2), toArray());
      }),
    );
    expect(echoed).toEqual(['one', 'two']);
    subscription.unsubscribe();
    const refused = net.connect({ host: '127.0.0.1', port });
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('errors with EADDRINUSE when the address is taken', async () => {
    let port = 0;
    subscription = listen(loopback(), { onListening: (p) => (port = p) }).subscribe();
    await waitFor(() => port > 0, 5000, 'listening');
    const { WhereToListen } = await import('rx-tcp');
    const same = WhereToListen.create({
      socketType: 'inet',
      address: { family: 'inet', host: '127.0.0.1', port },
      listeningOn: (b) => b.port,
    });
    await expect(firstValueFrom(listen(same))).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('fails, rather than throw into Node, when an accepted socket cannot be wired, and stops listening', async () => {
    let port = 0;
    const failure = new Error('wiring failed');
    const errors: unknown[] = [];
    subscription = listen(loopback(), { onListening: (p) => (port = p) }).subscribe({
      error: (error) => errors.push(error),
    });
    await waitFor(() => port > 0, 5000, 'listening');
    // The transport resumes the socket as it wires it: make that throw, once.
    const resume = jest.spyOn(net.Socket.prototype, 'resume').mockImplementationOnce(() => {
      throw failure;
    });
    const client = net.connect({ host: '127.0.0.1', port });
    client.on('error', () => {});
    try {
      await waitFor(() => errors.length === 1, 5000, 'the error');
      expect(errors).toEqual([failure]);
      await once(client, 'close'); // the accepted socket was destroyed
      const refused = net.connect({ host: '127.0.0.1', port });
      const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
      expect(error.code).toBe('ECONNREFUSED');
    } finally {
      resume.mockRestore();
      client.destroy();
    }
  });

  it.each([
    [() => listen('nowhere' as never), TypeError, /expected a WhereToListen.*got "nowhere"/],
    [() => listen(loopback(), { backlog: -1 }), RangeError, /backlog.*got -1/],
    [() => listen(loopback(), { readerBufferSize: 1.5 }), RangeError, /readerBufferSize.*got 1.5/],
  ])('rejects bad arguments at the call (%#)', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});

describe('listen on a Unix socket path', () => {
  let tmp: ReturnType<typeof tempDir>;
  const subscriptions: Subscription[] = [];
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => {
    closeAll();
    tmp.remove();
  });

  const closeAll = () => {
    for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
  };

  /** Listens on `file` in this process; resolves with how that went: `listening` or `error CODE`. */
  function listenOn(file: string): Promise<string> {
    return new Promise((resolve) => {
      subscriptions.push(
        listen(onFile(file), { onListening: () => resolve('listening') }).subscribe({
          next: (connection) => {
            connection.writer.writeLine('in process');
            connection.close().subscribe({ error: () => {} });
          },
          error: (error) => resolve(`error ${error.code}`),
        }),
      );
    });
  }

  it('never removes, on close, a file that another listener now occupies', async () => {
    const file = path.join(tmp.dir, 'moved.sock');
    expect(await listenOn(file)).toBe('listening');
    // Someone removes our file and listens in its place.
    fs.unlinkSync(file);
    const other = net.createServer((socket) => socket.on('error', () => {}).end('other\n'));
    await new Promise<void>((resolve) => other.listen(file, resolve));
    try {
      closeAll();
      expect(fs.lstatSync(file).isSocket()).toBe(true);
      expect(await greeting(file)).toBe('other');
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('removes its own file on close, and leaves no other file behind', async () => {
    const file = path.join(tmp.dir, 'own.sock');
    await staleSocket(file);
    expect(await listenOn(file)).toBe('listening');
    expect(await greeting(file)).toBe('in process');
    closeAll();
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });

  it('names the path asked for when it cannot listen there, not the name it binds first', async () => {
    const file = path.join(tmp.dir, 'missing', 'app.sock');
    const error = await firstValueFrom(listen(onFile(file))).catch((e) => e);
    expect(error).toMatchObject({ syscall: 'listen', address: file });
    expect(error.message.endsWith(` ${file}`)).toBe(true);
  });

  // Linux's lock is named in the abstract namespace; elsewhere it is a file beside the socket.
  describe.each(['linux', 'darwin'])('with the takeover lock of %s', (platform) => {
    const real = Object.getOwnPropertyDescriptor(process, 'platform')!;
    beforeEach(() => {
      Object.defineProperty(process, 'platform', { ...real, value: platform });
    });
    afterEach(() => {
      Object.defineProperty(process, 'platform', real);
    });

    it('lets exactly one of several listens on one stale path at once take it over', async () => {
      for (let round = 0; round < 20; round++) {
        const file = path.join(tmp.dir, `race-${round}.sock`);
        await staleSocket(file);
        const outcomes = await Promise.all(Array.from({ length: 6 }, () => listenOn(file)));
        expect(outcomes.sort()).toEqual([...Array(5).fill('error EADDRINUSE'), 'listening']);
        expect(await greeting(file)).toBe('in process');
        closeAll();
        expect(fs.existsSync(file)).toBe(false);
      }
      expect(fs.readdirSync(tmp.dir)).toEqual([]);
    });

    it('is not blocked for good by a process that died holding the takeover lock', async () => {
      const file = path.join(tmp.dir, 'locked.sock');
      await staleSocket(file);
      const holder = spawn(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(takeoverLockName(file))}, () => console.log('held'))`,
      ]);
      try {
        await once(holder.stdout!, 'data');
        // Another process is deciding about this path: its outcome is ours.
        expect(await listenOn(file)).toBe('error EADDRINUSE');
      } finally {
        const exited = once(holder, 'exit');
        holder.kill('SIGKILL');
        await exited;
      }
      // The kernel freed an abstract lock with its process; a lock file left behind is removed
      // by the first to find it dead, that attempt still reporting the path busy.
      if (platform !== 'linux') expect(await listenOn(file)).toBe('error EADDRINUSE');
      expect(await listenOn(file)).toBe('listening');
      expect(await greeting(file)).toBe('in process');
    });
  });
});

describe('several processes listening on one stale Unix socket path at once', () => {
  const CHILDREN = 6;
  const ROUNDS = 10;
  /** Starting a ts-node process each: generous on a loaded machine, and still bounded. */
  const START_TIMEOUT = 60_000;
  let tmp: ReturnType<typeof tempDir>;
  let children: Child[] = [];
  beforeAll(async () => {
    tmp = tempDir();
    children = Array.from({ length: CHILDREN }, () => startChild());
    await within(Promise.all(children.map((child) => child.line())), START_TIMEOUT, 'the children to start');
  }, START_TIMEOUT + 5_000);
  afterAll(async () => {
    // Whatever happened in the test, no process outlives it.
    await Promise.all(
      children.map(async ({ process: child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    tmp.remove();
  });

  it('lets exactly one listen, the others fail with EADDRINUSE, and removes no live socket', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const file = path.join(tmp.dir, `race-${round}.sock`);
      await staleSocket(file);
      // All told at once: the listens race each other, as processes started together would.
      for (const child of children) child.send({ command: 'listen', path: file });
      const outcomes = await within(
        Promise.all(children.map((child) => child.line())),
        20_000,
        `the outcomes of round ${round}`,
      );
      const winners = children.filter((_, i) => outcomes[i] === 'listening');
      expect({ round, outcomes: outcomes.filter((o) => o !== 'listening') }).toEqual({
        round,
        outcomes: Array(CHILDREN - 1).fill('error EADDRINUSE'),
      });
      expect(winners).toHaveLength(1);
      // The file at the path is the winner's socket, and it serves.
      expect(await greeting(file)).toBe(String(winners[0].process.pid));
      for (const child of children) child.send({ command: 'close' });
      await within(Promise.all(children.map((child) => child.line())), 20_000, 'the children to close');
      expect(fs.existsSync(file)).toBe(false);
    }
    // Neither temporary names nor lock files are left behind.
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  }, 120_000);
});

/** A Node process that listens on a path when told to, and says how it went, line by line. */
interface Child {
  process: ChildProcess;
  send(message: { command: 'listen'; path: string } | { command: 'close' }): void;
  /** The next line it prints. */
  line(): Promise<string>;
}

const CHILD_SCRIPT = `
const { listen, onFile } = require('rx-tcp');
let subscription;
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const message = JSON.parse(line);
  if (message.command === 'listen') {
    subscription = listen(onFile(message.path), { onListening: () => console.log('listening') }).subscribe({
      next: (connection) => {
        connection.writer.writeLine(String(process.pid));
        connection.close().subscribe({ error: () => {} });
      },
      error: (error) => console.log('error ' + error.code),
    });
  } else {
    subscription?.unsubscribe();
    console.log('closed');
  }
});
console.log('ready');
`;

function startChild(): Child {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', '-e', CHILD_SCRIPT],
    { cwd: path.resolve(__dirname, '..'), stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let partial = '';
  child.stdout!.on('data', (data: Buffer) => {
    const parts = (partial + data.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      const waiter = waiting.shift();
      if (waiter === undefined) lines.push(line);
      else waiter(line);
    }
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal})`))),
  );
  exited.catch(() => {});
  return {
    process: child,
    send: (message) => child.stdin!.write(`${JSON.stringify(message)}\n`),
    line: () => {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      return Promise.race([new Promise<string>((resolve) => waiting.push(resolve)), exited]);
    },
  };
}

/** Leaves a socket file at `file` that nothing listens on, as a process that died would. */
async function staleSocket(file: string): Promise<void> {
  const dying = net.createServer();
  const name = `${file}.dying`;
  await new Promise<void>((resolve) => dying.listen(name, resolve));
  fs.linkSync(name, file);
  // Node removes the name it bound, and only that one.
  await new Promise<void>((resolve) => dying.close(() => resolve()));
}

/** The first line a server on the Unix socket `file` sends. */
async function greeting(file: string): Promise<string> {
  return lastValueFrom(withConnection(toFile(file), ({ reader }) => reader.readLine())) as Promise<string>;
}
