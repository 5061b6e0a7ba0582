import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import fc from 'fast-check';
import type { InetAddress, Server } from 'rx-tcp';
import { type DecodeCursor, decode, TruncatedFrameError } from 'rx-tcp/operators';
import { connectionPair, marbleConnection, serveConnection } from 'rx-tcp/testing';
import { filter, firstValueFrom, lastValueFrom, map, type OperatorFunction, toArray } from 'rxjs';
import { cut, run, sizes } from '../spec/helpers/framing';
import { testScheduler } from '../spec/helpers/marbles';
import { loopback } from '../spec/helpers/servers';
import {
  type Command,
  execute,
  MAX_ARGUMENTS,
  MAX_INLINE_LENGTH,
  QUIT_OK,
  RespProtocolError,
  respCommands,
  type Store,
  serveResp,
  startRespServer,
} from './resp-server';

// The RESP server tested in its parts (the decode step, the executor), then as a handler: in
// marbles (virtual time), over connectionPair (in memory), over loopback with a raw node:net
// client, against the real redis-cli and redis-benchmark, and with random commands cut at random
// points.

/** A command as clients send it: an array of bulk strings. */
function multiBulk(...args: (string | Uint8Array)[]): Buffer {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** The server's side of a byte stream: the commands it decodes and the replies it gives. */
const serveBytes =
  (store: Store): OperatorFunction<Uint8Array | string, string> =>
  (source) =>
    source.pipe(
      decode(respCommands()),
      filter((command) => command.length > 0),
      map((command) => execute(store, command).toString('latin1')),
    );

/** Decodes replies: each one whole, as the latin1 text of its bytes (`+OK\r\n`, `$1\r\nv\r\n`, …). */
const replies = () => decode(respReply);

function respReply(cursor: DecodeCursor): string | undefined {
  const end = replyEnd(cursor, 0);
  return end === undefined ? undefined : cursor.read(end)!.toString('latin1');
}

/** Where the reply starting at `at` ends, or undefined if it is incomplete. */
function replyEnd(cursor: DecodeCursor, at: number): number | undefined {
  const lf = cursor.indexOf(0x0a, at);
  if (lf === -1) return undefined;
  const line = cursor.peek(lf + 1)!.toString('latin1', at, lf - 1);
  const n = Number(line.slice(1));
  switch (line[0]) {
    case '+':
    case '-':
    case ':':
      return lf + 1;
    case '$':
      if (n < 0) return lf + 1;
      return lf + 1 + n + 2 <= cursor.length ? lf + 1 + n + 2 : undefined;
    case '*': {
      let next: number | undefined = lf + 1;
      for (let i = 0; i < n && next !== undefined; i++) next = replyEnd(cursor, next);
      return next;
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(line)}`);
  }
}

/** Every byte value, CR and LF included: a value no text encoding would carry unchanged. */
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));

/** A session: each command, and its reply. */
const SESSION: [Buffer, string][] = [
  [Buffer.from('PING\r\n'), '+PONG\r\n'],
  [multiBulk('PING', 'hi'), '$2\r\nhi\r\n'],
  [Buffer.from('ECHO  spaced\ttabbed\r\n'), "-ERR wrong number of arguments for 'echo' command\r\n"],
  [multiBulk('SET', 'bin', BINARY), '+OK\r\n'],
  [multiBulk('GET', 'bin'), `$256\r\n${BINARY.toString('latin1')}\r\n`],
  [multiBulk('INCR', 'n'), ':1\r\n'],
  [Buffer.from('INCR n\n'), ':2\r\n'],
  [multiBulk('INCR', 'bin'), '-ERR value is not an integer or out of range\r\n'],
  [multiBulk('DEL', 'bin', 'n', 'nothing'), ':2\r\n'],
  [multiBulk('GET', 'bin'), '$-1\r\n'],
  [multiBulk('FLUSHALL'), "-ERR unknown command 'FLUSHALL'\r\n"],
  [Buffer.from('\r\n'), ''], // an empty line: nothing to answer
  [multiBulk('QUIT'), '+OK\r\n'],
];
const SESSION_BYTES = Buffer.concat(SESSION.map(([command]) => command));
const SESSION_REPLIES = SESSION.map(([, reply]) => reply).filter((reply) => reply !== '');

describe('respCommands, the decode step', () => {
  const decoded = (...chunks: (string | Buffer)[]) => run(decode(respCommands()), chunks);
  const text = (command: Command) => command.map((arg) => arg.toString('latin1'));

  it('reads multi-bulk and inline commands, cut anywhere', () => {
    const bytes = Buffer.concat([multiBulk('SET', 'k', 'a b\r\nc'), Buffer.from(' GET\tk \r\nPING\n')]);
    for (let at = 0; at <= bytes.length; at++) {
      const { frames, error } = decoded(bytes.subarray(0, at), bytes.subarray(at));
      expect(error).toBeUndefined();
      expect(frames.map(text)).toEqual([['SET', 'k', 'a b\r\nc'], ['GET', 'k'], ['PING']]);
    }
  });

  it('reads an empty line, `*0` and `*-1` as empty commands', () => {
    expect(decoded('\r\n*0\r\n*-1\r\n\n').frames).toEqual([[], [], [], []]);
  });

  it('keeps every byte of a binary argument, whether it came in one chunk or several', () => {
    const bytes = multiBulk('SET', BINARY, BINARY);
    for (const chunks of [[bytes], cut(bytes, [1, 7, 300])]) {
      const [command] = decoded(...chunks).frames;
      expect(command[1].equals(BINARY) && command[2].equals(BINARY)).toBe(true);
    }
  });

  it.each([
    ['*x\r\n', 'invalid multibulk length'],
    ['*\r\n', 'invalid multibulk length'],
    [`*${MAX_ARGUMENTS + 1}\r\n`, 'invalid multibulk length'],
    ['*12345678901234567890', 'invalid multibulk length'], // no CRLF where one must be
    ['*1\r\nGET\r\n', "expected '$', got 'G'"],
    ['*1\r\n$-1\r\n', 'invalid bulk length'],
    ['*1\r\n$999999999\r\n', 'invalid bulk length'], // refused before its bytes arrive
    ['*1\r\n$3\r\nGETXX', 'expected CRLF after bulk string'],
    ['*1\r\n$1x\r\n', 'invalid bulk length'],
  ])('refuses %j: %s', (input, message) => {
    const { frames, error } = decoded(input);
    expect(frames).toEqual([]);
    expect(error).toEqual(new RespProtocolError(message));
  });

  it('refuses an inline line over MAX_INLINE_LENGTH, and over MAX_ARGUMENTS arguments', () => {
    expect(decoded('x'.repeat(MAX_INLINE_LENGTH + 1)).error).toEqual(
      new RespProtocolError('too big inline request'),
    );
    expect(decoded(`${'x '.repeat(MAX_ARGUMENTS + 1)}\r\n`).error).toEqual(
      new RespProtocolError('too many arguments'),
    );
  });

  it.each(['*2\r\n$3\r\nGET\r\n$1', '*1234567890', '*1\r\n$1234567'])(
    'waits for the rest of %j (here the stream ends inside the command)',
    (input) => {
      const { frames, error } = decoded(input);
      expect(frames).toEqual([]);
      expect(error).toBeInstanceOf(TruncatedFrameError);
    },
  );
});

describe('execute, the commands', () => {
  const reply = (store: Store, ...args: string[]) =>
    execute(
      store,
      args.map((arg) => Buffer.from(arg, 'latin1')),
    ).toString('latin1');

  it.each([
    [['PING'], '+PONG\r\n'],
    [['ping', 'x y'], '$3\r\nx y\r\n'],
    [['PING', 'a', 'b'], "-ERR wrong number of arguments for 'ping' command\r\n"],
    [['ECHO', ''], '$0\r\n\r\n'],
    [['GET', 'missing'], '$-1\r\n'],
    [['GET'], "-ERR wrong number of arguments for 'get' command\r\n"],
    [['SET', 'k'], "-ERR wrong number of arguments for 'set' command\r\n"],
    [['INCR', 'new'], ':1\r\n'],
    [['DEL'], "-ERR wrong number of arguments for 'del' command\r\n"],
    [['COMMAND', 'DOCS'], '*0\r\n'],
    [['CONFIG', 'GET', 'save'], '*2\r\n$4\r\nsave\r\n$0\r\n\r\n'],
    [['CONFIG', 'GET', 'appendonly'], '*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n'],
    [['CONFIG', 'SET', 'x', 'y'], '-ERR only CONFIG GET <parameter> is supported\r\n'],
    [['NOPE\r\n+OK', 'x'], "-ERR unknown command 'NOPE??+OK'\r\n"], // one line, whatever the name
  ])('answers %j with %j', (args, expected) => {
    expect(reply(new Map(), ...args)).toBe(expected);
  });

  it('increments 64-bit integers written as Redis writes them, and nothing else', () => {
    const store: Store = new Map();
    const incr = (value: string) => {
      store.set('n', Buffer.from(value));
      return reply(store, 'INCR', 'n');
    };
    expect(incr('-1')).toBe(':0\r\n');
    expect(incr('9223372036854775806')).toBe(':9223372036854775807\r\n');
    expect(incr('9223372036854775807')).toBe('-ERR increment or decrement would overflow\r\n');
    for (const bad of ['', ' 1', '1 ', '+1', '01', '-0', '1.5', '9223372036854775808', 'x']) {
      expect(incr(bad)).toBe('-ERR value is not an integer or out of range\r\n');
    }
  });

  it('keeps a copy of a value, not a view of the bytes received', () => {
    const store: Store = new Map();
    const received = Buffer.from('value');
    execute(store, [Buffer.from('SET'), Buffer.from('k'), received]);
    received.fill(0);
    expect(store.get('k')?.toString()).toBe('value');
  });

  it('answers QUIT with QUIT_OK, which the handler knows by identity', () => {
    expect(execute(new Map(), [Buffer.from('quit')])).toBe(QUIT_OK);
  });
});

describe('the RESP server in marbles (virtual time)', () => {
  it('answers each command once it is whole, however the bytes are cut, and closes at FIN', () => {
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(helpers, 'a-----b-----c-----d-----|', {
        a: '*1\r\n$4\r\nPI',
        b: 'NG\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk',
        c: '\r\n$5\r\nhel',
        d: 'lo\r\n\r\nGET k\r\n',
      });
      serveConnection(connection, serveResp()).subscribe();
      helpers.expectObservable(writes).toBe('------(ab)--------(cd)--|', {
        a: '+PONG\r\n',
        b: '+PONG\r\n',
        c: '+OK\r\n',
        d: '$5\r\nhello\r\n',
      });
    });
  });

  it('answers a protocol error, after the commands before it, then closes the connection', () => {
    testScheduler().run((helpers) => {
      const { connection, writes, input } = marbleConnection(helpers, '-a-b-c', {
        a: 'SET k v\r\n',
        b: 'GET k\r\n*1\r\n$999999999\r\n',
        c: 'PING\r\n',
      });
      serveConnection(connection, serveResp()).subscribe();
      helpers.expectObservable(writes).toBe('-a-(be|)', {
        a: '+OK\r\n',
        b: '$1\r\nv\r\n',
        e: '-ERR Protocol error: invalid bulk length\r\n',
      });
      // The PING sent after the close is answered with a reset, which stops the peer.
      helpers.expectSubscriptions(input.subscriptions).toBe('^----!');
    });
  });

  it('ends the connection after QUIT, leaving the commands after it unanswered', () => {
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(helpers, 'a', { a: 'PING\r\nQUIT\r\nPING\r\n' });
      serveConnection(connection, serveResp()).subscribe();
      helpers.expectObservable(writes).toBe('(ab|)', { a: '+PONG\r\n', b: '+OK\r\n' });
    });
  });

  it('answers a command longer than maxBuffered with a protocol error', () => {
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(helpers, 'a-b', {
        a: '*2\r\n$3\r\nSET\r\n$100\r\n',
        b: 'x'.repeat(60),
      });
      serveConnection(connection, serveResp(new Map(), { maxBuffered: 64 })).subscribe();
      helpers
        .expectObservable(writes)
        .toBe('--(e|)', { e: '-ERR Protocol error: command over 64 bytes\r\n' });
    });
  });

  it('closes the connection of a client that sends commands without reading the replies', () => {
    const replies: string[] = [];
    testScheduler().run((helpers) => {
      const { connection, writes } = marbleConnection(
        helpers,
        'a',
        { a: 'ECHO 0123456789\r\n'.repeat(100) }, // replies of 17 bytes
        { peerReads: false, windowSize: 64 },
      );
      const served = serveConnection(connection, serveResp(new Map(), { maxUnsentBytes: 100 }));
      writes.subscribe({ next: (reply) => replies.push(reply), error: () => {} });
      // The handler ends at once; the close then waits for the client to read, for 30 s at most.
      helpers.expectObservable(served).toBe('30s (x|)', { x: undefined });
    });
    // Replies stop once more than 100 bytes wait unsent: at most the window's 64, 100, and one more.
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.length * 17).toBeLessThanOrEqual(64 + 100 + 17);
  });
});

describe('the RESP server over connectionPair (in memory)', () => {
  it('serves a pipelined session, binary values included, and closes after QUIT', async () => {
    const [client, server] = connectionPair();
    const served = lastValueFrom(serveConnection(server, serveResp()));
    client.writer.write(SESSION_BYTES);
    expect(await lastValueFrom(client.reader.pipe(replies(), toArray()))).toEqual(SESSION_REPLIES);
    await served;
    await lastValueFrom(client.close());
  });

  it('shares one store between the connections of one handler', async () => {
    const handler = serveResp();
    const pairs = [connectionPair(), connectionPair()];
    for (const [, server] of pairs) serveConnection(server, handler).subscribe();
    const [[first], [second]] = pairs;
    first.writer.write(multiBulk('SET', 'shared', 'yes'));
    expect(await firstValueFrom(first.reader.pipe(replies()))).toBe('+OK\r\n');
    second.writer.write(multiBulk('GET', 'shared'));
    expect(await firstValueFrom(second.reader.pipe(replies()))).toBe('$3\r\nyes\r\n');
    await Promise.all(pairs.map(([client]) => lastValueFrom(client.close())));
  });
});

describe('the RESP server over a real loopback socket', () => {
  let server: Server<InetAddress, number> | undefined;
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    if (server !== undefined) await lastValueFrom(server.close({ closeExistingConnections: true }));
    server = undefined;
  });

  /** Sends `chunks` from a raw client, one write each, and returns all it gets until the server closes. */
  async function exchange(chunks: Buffer[]): Promise<string> {
    server ??= await startRespServer(loopback());
    const socket = net.connect({ host: '127.0.0.1', port: server.listeningOn, noDelay: true });
    sockets.push(socket);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    await once(socket, 'connect');
    for (const chunk of chunks) socket.write(chunk);
    await once(socket, 'end');
    return Buffer.concat(received).toString('latin1');
  }

  it('serves a session pipelined in one write', async () => {
    expect(await exchange([SESSION_BYTES])).toBe(SESSION_REPLIES.join(''));
  });

  it('serves a session sent a few bytes at a time', async () => {
    expect(await exchange(cut(SESSION_BYTES, [1, 2, 3, 5, 8, 13]))).toBe(SESSION_REPLIES.join(''));
  });

  it('answers a protocol error and closes the connection', async () => {
    const answer = await exchange([Buffer.from('PING\r\n*1\r\n$1\r\nxyz\r\nPING\r\n')]);
    expect(answer).toBe('+PONG\r\n-ERR Protocol error: expected CRLF after bulk string\r\n');
  });
});

describe('the RESP server with the real redis-cli and redis-benchmark', () => {
  const installed = ['redis-cli', 'redis-benchmark'].every(
    (binary) => spawnSync(binary, ['--version']).status === 0,
  );
  const test = installed || process.env.CI ? it : it.skip;
  if (!installed) {
    console.warn(
      `resp-server.spec.ts: redis-cli or redis-benchmark not found, ${process.env.CI ? 'failing' : 'skipping'} the tests with them (install redis-tools)`,
    );
  }

  let server: Server<InetAddress, number> | undefined;
  const children = new Set<ChildProcess>();
  beforeEach(async () => {
    if (!installed) throw new Error('redis-cli and redis-benchmark are needed in CI: install redis-tools');
    server = await startRespServer(loopback());
  });
  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL');
    children.clear();
    if (server !== undefined) await lastValueFrom(server.close({ closeExistingConnections: true }));
    server = undefined;
  });

  /** Runs `binary` with `args` (and `input` on its stdin), killed after 20 s; its exit code and output. */
  async function runTool(binary: string, args: string[], input: Uint8Array = Buffer.alloc(0)) {
    const child = spawn(binary, ['-p', String(server!.listeningOn), ...args]);
    children.add(child);
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdin.end(input);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(killer);
    children.delete(child);
    return { code, stdout: Buffer.concat(stdout), stderr };
  }
  const cli = async (args: string[], input?: Uint8Array) => {
    const { code, stdout, stderr } = await runTool('redis-cli', args, input);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return stdout;
  };

  test('answers redis-cli: PING, SET and GET of a binary value, INCR, DEL', async () => {
    expect((await cli(['PING'])).toString()).toBe('PONG\n');
    expect((await cli(['-x', 'SET', 'bin'], BINARY)).toString()).toBe('OK\n');
    // Not a terminal: redis-cli prints the value's bytes as they are, then a newline.
    expect((await cli(['GET', 'bin'])).equals(Buffer.concat([BINARY, Buffer.from('\n')]))).toBe(true);
    expect((await cli(['INCR', 'counter'])).toString()).toBe('1\n');
    expect((await cli(['INCR', 'counter'])).toString()).toBe('2\n');
    expect((await cli(['DEL', 'bin', 'counter', 'nothing'])).toString()).toBe('2\n');
    expect((await cli(['GET', 'bin'])).toString()).toBe('\n');
  });

  test('runs redis-benchmark -t ping,set,get,incr -P 16 without an error', async () => {
    const args = ['-t', 'ping,set,get,incr', '-n', '2000', '-c', '5', '-P', '16', '-q'];
    const { code, stdout, stderr } = await runTool('redis-benchmark', args);
    const output = stdout.toString();
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    for (const test of ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR']) {
      expect(output).toMatch(new RegExp(`${test}: [\\d.]+ requests per second`));
    }
  });
});

describe('the RESP server, property-tested', () => {
  const key = fc.constantFrom('k', 'n', 'binary\r\nkey');
  const value = fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.constantFrom('1', '-5', 'x'));
  const command = fc.oneof(
    fc.tuple(fc.constant('PING')),
    fc.tuple(fc.constant('PING'), value),
    fc.tuple(fc.constant('ECHO'), value),
    fc.tuple(fc.constant('SET'), key, value),
    fc.tuple(fc.constant('GET'), key),
    fc.tuple(fc.constant('INCR'), key),
    fc.tuple(fc.constant('DEL'), key, key),
    fc.tuple(fc.constant('NOPE'), key),
  );
  /** As a client sends it: multi-bulk, or inline when every argument can be written so. */
  const encoded = fc.tuple(command, fc.boolean()).map(([args, asInline]) => {
    const inlineable = args.every((arg) => typeof arg === 'string' && /^[^\s*][^\s]*$/.test(arg));
    return asInline && inlineable ? Buffer.from(`${args.join(' ')}\r\n`) : multiBulk(...args);
  });

  it('gives the same replies however the commands are cut', () => {
    fc.assert(
      fc.property(fc.array(encoded, { maxLength: 20 }), sizes(40, 10), (commands, chunkSizes) => {
        const bytes = Buffer.concat(commands);
        const whole = run(serveBytes(new Map()), [bytes]);
        const pieces = run(serveBytes(new Map()), cut(bytes, chunkSizes));
        expect(whole.error).toBeUndefined();
        expect(whole.frames).toHaveLength(commands.length);
        expect(pieces).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });
});
