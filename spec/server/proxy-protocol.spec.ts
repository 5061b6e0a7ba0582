import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  type Connection,
  encodeProxyHeader,
  type InetAddress,
  listen,
  onFile,
  ProxyProtocolError,
  type Reader,
  Server,
  type ServerEvent,
  type ServerOptions,
  WhereToListen,
  type Writer,
} from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, NEVER, type Subscription, VirtualTimeScheduler } from 'rxjs';
import { once, waitFor, within } from '../helpers/net';
import { loopback, tempDir } from '../helpers/servers';

import net = require('node:net');

type Inet = Server<InetAddress, number>;
type ProxyInfo = NonNullable<Connection['proxy']>;

const hasIPv6Loopback = Object.values(os.networkInterfaces())
  .flat()
  .some((info) => info?.address === '::1');
const itIPv6 = hasIPv6Loopback ? it : it.skip;

/** Listen on ::1 only, on a port the OS chooses. */
const ipv6Loopback = () =>
  WhereToListen.create({
    socketType: 'inet',
    address: { family: 'inet', host: '::1', port: 0 },
    listeningOn: (bound: InetAddress) => bound.port,
  });

const CLIENT: InetAddress = { family: 'inet', host: '203.0.113.7', port: 51234 };
const FRONT: InetAddress = { family: 'inet', host: '192.0.2.1', port: 443 };
const CLIENT6: InetAddress = { family: 'inet', host: '2001:db8::7', port: 40000 };
const FRONT6: InetAddress = { family: 'inet', host: '2001:db8::1', port: 8443 };
const v1 = (source = CLIENT, destination = FRONT) =>
  encodeProxyHeader(1, { source, destination, tlvs: new Map() });

/** What a handler saw of one connection. */
interface Seen {
  address: InetAddress;
  proxy: ProxyInfo | null;
  remoteAddress: InetAddress;
  received: string;
}

const servers: Inet[] = [];
const sockets: net.Socket[] = [];
let subscription: Subscription | undefined;

afterEach(async () => {
  subscription?.unsubscribe();
  subscription = undefined;
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    await lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {});
  }
});

/** Reads everything to EOF, records what it saw, and answers `ok <bytes received>`. */
function recorder(seen: Seen[]) {
  return (address: InetAddress, reader: Reader, writer: Writer, connection: Connection<InetAddress>) =>
    defer(async () => {
      const received = (await firstValueFrom(reader.contents())).toString('latin1');
      seen.push({ address, proxy: connection.proxy, remoteAddress: connection.remoteAddress, received });
      writer.write(`ok ${received.length}`);
    });
}

async function start(
  handler: Parameters<typeof Server.create<InetAddress, number>>[1],
  options: ServerOptions<InetAddress> = {},
  where = loopback(),
): Promise<{ server: Inet; events: ServerEvent<InetAddress>[] }> {
  const server = await firstValueFrom(Server.create(where, handler, { proxyProtocol: 'any', ...options }));
  servers.push(server);
  const events: ServerEvent<InetAddress>[] = [];
  server.events.subscribe((event) => events.push(event));
  return { server, events };
}

/** A raw client: what it receives until the connection closes, and whether it was reset. */
function client(port: number, host = '127.0.0.1') {
  const socket = net.connect({ host, port });
  sockets.push(socket);
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | undefined;
  let localPort: number | undefined;
  socket.on('connect', () => (localPort = socket.localPort));
  socket.on('data', (chunk) => chunks.push(chunk));
  socket.on('error', (e) => (error = e));
  return {
    socket,
    /** Where the balancer connects from, as the server sees it (the port known once connected). */
    balancer: () => ({ family: 'inet', host: '127.0.0.1', port: localPort }),
    connected: once(socket, 'connect'),
    closed: within(once(socket, 'close'), 10_000, 'the server to close the connection'),
    received: () => Buffer.concat(chunks).toString('latin1'),
    error: () => error,
  };
}

/** Sends `bytes` then FIN on a new connection; resolves with what came back before the close. */
async function exchange(port: number, bytes: Buffer | string, host = '127.0.0.1'): Promise<string> {
  const c = client(port, host);
  c.socket.end(bytes);
  await c.closed;
  return c.received();
}

/** The sockets the server accepted, in order, as Node handed them to it (before any header). */
function acceptedSockets(server: Inet): net.Socket[] {
  const accepted: net.Socket[] = [];
  server.listeningSocket.on('connection', (socket: net.Socket) => accepted.push(socket));
  return accepted;
}

const rejections = (events: ServerEvent<InetAddress>[]) => events.filter((e) => e.type === 'rejected');

describe('Server.create with proxyProtocol', () => {
  it('checks its options at the call', () => {
    const create = (options: object) => () => Server.create(loopback(), () => NEVER, options);
    expect(create({ proxyProtocol: 'v3' })).toThrow(
      new RangeError(`Server.create: proxyProtocol must be false, 'v1', 'v2' or 'any', got "v3"`),
    );
    expect(create({ proxyProtocol: true })).toThrow(TypeError);
    expect(create({ proxyProtocol: 'v1', proxyHeaderTimeout: 0 })).toThrow(
      new RangeError('Server.create: proxyHeaderTimeout must be a number >= 1, got 0'),
    );
    expect(create({ proxyHeaderTimeout: '10' })).toThrow(TypeError);
    expect(create({ proxyHeaderTimeout: Number.NaN })).toThrow(TypeError);
    expect(create({ proxyHeaderTimeout: Number.POSITIVE_INFINITY })).toThrow(/at most 2147483647 ms/);
    // A header being read is a pending connection: with none allowed, none could be served.
    expect(create({ proxyProtocol: 'any', maxPendingConnections: 0 })).toThrow(
      new RangeError('Server.create: maxPendingConnections must be an integer >= 1, got 0'),
    );
    expect(create({ maxPendingConnections: 0 })).not.toThrow();
    expect(() => listen(loopback(), { proxyProtocol: 'v4' as never })).toThrow(/listen: proxyProtocol/);
    expect(() => listen(loopback(), { proxyHeaderTimeout: -1 })).toThrow(/listen: proxyHeaderTimeout/);
  });

  it("serves a v1 TCP4 header's client: address and proxy.source are the client, the socket the balancer's", async () => {
    const seen: Seen[] = [];
    const { server, events } = await start(recorder(seen));
    const accepted = acceptedSockets(server);
    const c = client(server.listeningOn);
    // Connected but no header yet: not accepted, no slot taken.
    await waitFor(() => accepted.length === 1, 5000, 'the connection at the server');
    expect(events).toEqual([]);
    expect(server.numConnections).toBe(0);
    c.socket.end(Buffer.concat([v1(), Buffer.from('payload in the same write')]));
    await c.closed;
    expect(c.received()).toBe('ok 25');
    expect(seen).toEqual([
      {
        address: CLIENT,
        proxy: { source: CLIENT, destination: FRONT, tlvs: new Map() },
        remoteAddress: c.balancer(),
        received: 'payload in the same write',
      },
    ]);
    expect(events.map((e) => [e.type, e.address])).toEqual([
      ['accepted', CLIENT],
      ['connectionClosed', CLIENT],
    ]);
    server.invariant();
  });

  it('emits accepted only once the header is read, however late within the timeout', async () => {
    const { server, events } = await start(recorder([]));
    const accepted = acceptedSockets(server);
    const c = client(server.listeningOn);
    const header = v1();
    c.socket.write(header.subarray(0, 10));
    await waitFor(() => accepted.length === 1 && accepted[0].bytesRead === 10, 5000, 'the first bytes');
    expect(events).toEqual([]);
    server.invariant();
    c.socket.end(header.subarray(10));
    await c.closed;
    expect(events.map((e) => e.type)).toEqual(['accepted', 'connectionClosed']);
    expect(events[0].address).toEqual(CLIENT);
  });

  itIPv6('serves a v1 TCP6 header on ::1', async () => {
    const seen: Seen[] = [];
    const { server } = await start(recorder(seen), { proxyProtocol: 'v1' }, ipv6Loopback());
    expect(
      await exchange(server.listeningOn, Buffer.concat([v1(CLIENT6, FRONT6), Buffer.from('x')]), '::1'),
    ).toBe('ok 1');
    expect(seen[0].address).toEqual(CLIENT6);
    expect(seen[0].proxy).toEqual({ source: CLIENT6, destination: FRONT6, tlvs: new Map() });
    expect(seen[0].remoteAddress).toMatchObject({ family: 'inet', host: '::1' });
  });

  itIPv6('serves a v2 INET6 header on ::1, its TLVs in connection.proxy.tlvs', async () => {
    const seen: Seen[] = [];
    const { server } = await start(recorder(seen), { proxyProtocol: 'v2' }, ipv6Loopback());
    const tlvs = new Map([
      [0x01, Buffer.from('h2')],
      [0x05, Buffer.from('unique-id-42')],
      [0xe0, Buffer.alloc(300, 7)],
    ]);
    const header = encodeProxyHeader(2, { source: CLIENT6, destination: FRONT6, tlvs });
    expect(await exchange(server.listeningOn, Buffer.concat([header, Buffer.from('after')]), '::1')).toBe(
      'ok 5',
    );
    expect(seen[0].address).toEqual(CLIENT6);
    expect(seen[0].proxy).toEqual({ source: CLIENT6, destination: FRONT6, tlvs });
    expect(seen[0].received).toBe('after');
  });

  it('serves a v2 INET header, with no bytes after it: the reader sees EOF', async () => {
    const seen: Seen[] = [];
    const { server } = await start(recorder(seen), { proxyProtocol: 'v2' });
    const header = encodeProxyHeader(2, { source: CLIENT, destination: FRONT, tlvs: new Map() });
    expect(await exchange(server.listeningOn, header)).toBe('ok 0');
    expect(seen[0]).toMatchObject({ address: CLIENT, received: '' });
  });

  it.each([
    ['a v2 LOCAL header', 'v2', encodeProxyHeader(2, null)],
    ['a v1 UNKNOWN line', 'v1', encodeProxyHeader(1, null)],
    ['a v1 UNKNOWN line with addresses', 'any', Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')],
  ] as const)(
    'serves %s (a health check) with proxy null and the balancer as the address',
    async (_, version, header) => {
      const seen: Seen[] = [];
      const { server, events } = await start(recorder(seen), { proxyProtocol: version });
      const c = client(server.listeningOn);
      c.socket.end(Buffer.concat([header, Buffer.from('ping')]));
      await c.closed;
      expect(c.received()).toBe('ok 4');
      const balancer = c.balancer();
      expect(seen).toEqual([{ address: balancer, proxy: null, remoteAddress: balancer, received: 'ping' }]);
      expect(events[0]).toMatchObject({ type: 'accepted', address: balancer });
    },
  );

  /** How each bad client misbehaves, and what the server's error says. */
  const badClients: [string, ServerOptions<InetAddress>, (socket: net.Socket) => void, RegExp][] = [
    [
      'sends garbage',
      {},
      (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      /no PROXY header|must start with/,
    ],
    [
      'sends a v1 line with no CRLF within 107 bytes',
      {},
      (s) => s.write(`PROXY UNKNOWN ${'x'.repeat(200)}`),
      /107/,
    ],
    [
      'announces a v2 header over 4096 bytes',
      {},
      (s) => s.write(Buffer.concat([encodeProxyHeader(2, null).subarray(0, 14), Buffer.from([0x10, 0x01])])),
      /4097 is over the limit of 4096/,
    ],
    ['sends a v1 header to a v2-only server', { proxyProtocol: 'v2' }, (s) => s.write(v1()), /only v2/],
    [
      'sends half a header, then nothing',
      { proxyHeaderTimeout: 200 },
      (s) => s.write(v1().subarray(0, 20)),
      /no complete header within 200 ms/,
    ],
    [
      'closes after half a header',
      {},
      (s) => s.end(v1().subarray(0, 20)),
      /closed before its header was complete/,
    ],
    [
      'resets after half a header',
      {},
      (s) => s.write(v1().subarray(0, 20), () => s.resetAndDestroy()),
      /failed before its header was complete|closed before its header was complete/,
    ],
  ];

  it.each(badClients)(
    'closes a connection that %s: rejected with a ProxyProtocolError, no handler, and serves on',
    async (_, options, misbehave, message) => {
      const seen: Seen[] = [];
      const { server, events } = await start(recorder(seen), { maxPendingConnections: 1, ...options });
      const bad = client(server.listeningOn);
      await bad.connected;
      misbehave(bad.socket);
      await bad.closed;
      await waitFor(() => rejections(events).length === 1, 5000, 'the rejected event');
      const [rejected] = rejections(events);
      expect(rejected.error).toBeInstanceOf(ProxyProtocolError);
      expect((rejected.error as ProxyProtocolError).code).toBe('ERR_RXTCP_PROXY_PROTOCOL');
      expect((rejected.error as Error).message).toMatch(message);
      expect(rejected.numConnections).toBe(0);
      expect(events.map((e) => e.type)).toEqual(['rejected']);
      expect(server.numConnections).toBe(0);
      server.invariant();
      // Its pending slot is free again (maxPendingConnections is 1), and the server serves on.
      const v2 = encodeProxyHeader(2, { source: CLIENT, destination: FRONT, tlvs: new Map() });
      expect(await exchange(server.listeningOn, Buffer.concat([v2, Buffer.from('next')]))).toBe('ok 4');
      expect(seen.map((s) => s.received)).toEqual(['next']);
      server.invariant();
    },
  );

  it('gives the reset cause with the ProxyProtocolError of a connection reset before its header', async () => {
    const { server, events } = await start(recorder([]));
    const accepted = acceptedSockets(server);
    const bad = client(server.listeningOn);
    bad.socket.write(v1().subarray(0, 5));
    await waitFor(() => accepted.length === 1 && accepted[0].bytesRead === 5, 5000, 'the first bytes');
    bad.socket.resetAndDestroy();
    await waitFor(() => rejections(events).length === 1, 5000, 'the rejected event');
    const { error } = rejections(events)[0];
    expect(error).toBeInstanceOf(ProxyProtocolError);
    expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(rejections(events)[0].address).toBeUndefined(); // gone with its socket
    server.invariant();
  });

  it('names the balancer in the rejected event of a connection whose header is refused while it is open', async () => {
    const { server, events } = await start(recorder([]));
    const bad = client(server.listeningOn);
    bad.socket.write('garbage');
    await bad.closed;
    expect(rejections(events)[0].address).toEqual(bad.balancer());
  });

  it.each([
    ['v1', () => v1()],
    [
      'v2',
      () =>
        encodeProxyHeader(2, {
          source: CLIENT,
          destination: FRONT,
          tlvs: new Map([[0x02, Buffer.from('a')]]),
        }),
    ],
  ])('hands the bytes after a %s header to the reader, split at every byte boundary', async (_, header) => {
    const seen: Seen[] = [];
    const { server } = await start(recorder(seen));
    const accepted = acceptedSockets(server);
    const bytes = Buffer.concat([header(), Buffer.from('hello\nworld')]);
    for (let split = 1; split < bytes.length; split++) {
      const c = client(server.listeningOn);
      c.socket.write(bytes.subarray(0, split));
      // The server has read the first part on its own before the rest is sent.
      await waitFor(() => accepted.length === split && accepted[split - 1].bytesRead === split);
      c.socket.end(bytes.subarray(split));
      await c.closed;
      expect([split, c.received()]).toEqual([split, 'ok 11']);
    }
    expect(seen.every((s) => s.received === 'hello\nworld' && s.address.host === CLIENT.host)).toBe(true);
    server.invariant();
  });

  it('hands the bytes after the header to the reader in order, whatever the chunks (property)', async () => {
    const seen: Seen[] = [];
    const { server } = await start(recorder(seen));
    const accepted = acceptedSockets(server);
    let connections = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        async (useV2, payload, cuts) => {
          const header = useV2
            ? encodeProxyHeader(2, { source: CLIENT, destination: FRONT, tlvs: new Map() })
            : v1();
          const bytes = Buffer.concat([header, payload]);
          const c = client(server.listeningOn);
          connections++;
          let sent = 0;
          for (const cut of cuts) {
            if (sent >= bytes.length) break;
            const part = bytes.subarray(sent, sent + cut);
            c.socket.write(part);
            sent += part.length;
            const index = connections - 1;
            await waitFor(() => accepted.length > index && accepted[index].bytesRead === sent);
          }
          c.socket.end(bytes.subarray(sent));
          await c.closed;
          expect(c.received()).toBe(`ok ${payload.length}`);
          expect(Buffer.from(seen[seen.length - 1].received, 'latin1')).toEqual(Buffer.from(payload));
        },
      ),
      { numRuns: 25 },
    );
    server.invariant();
  });

  it('reads the header on a Unix socket too (a balancer sending to a socket file)', async () => {
    const tmp = tempDir();
    try {
      const handled: unknown[] = [];
      const server = await firstValueFrom(
        Server.create(
          onFile(path.join(tmp.dir, 'proxied.sock')),
          (address, reader, writer, connection) =>
            defer(async () => {
              handled.push([address, connection.proxy?.destination, await firstValueFrom(reader.readLine())]);
              writer.writeLine('ok');
            }),
          { proxyProtocol: 'v1' },
        ),
      );
      try {
        const socket = net.connect({ path: server.listeningOn });
        sockets.push(socket);
        const chunks: Buffer[] = [];
        socket.on('data', (chunk) => chunks.push(chunk));
        socket.end(Buffer.concat([v1(), Buffer.from('over unix\n')]));
        await within(once(socket, 'close'), 10_000, 'the close');
        expect(Buffer.concat(chunks).toString()).toBe('ok\n');
        expect(handled).toEqual([[CLIENT, FRONT, 'over unix']]);
      } finally {
        await lastValueFrom(server.close({ closeExistingConnections: true }));
      }
    } finally {
      tmp.remove();
    }
  });

  it('hands a megabyte sent with the header to the reader, in order, none lost', async () => {
    const seen: Seen[] = [];
    const { server } = await start(recorder(seen), { readerBufferSize: 16 * 1024 });
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 10)) & 0xff;
    expect(await exchange(server.listeningOn, Buffer.concat([v1(), payload]))).toBe(`ok ${payload.length}`);
    expect(Buffer.from(seen[0].received, 'latin1').equals(payload)).toBe(true);
  });
});

describe('Server.create with proxyProtocol: limits and close', () => {
  it('counts a connection reading its header against maxPendingConnections, not numConnections', async () => {
    const seen: Seen[] = [];
    const { server, events } = await start(recorder(seen), { maxPendingConnections: 1 });
    const accepted = acceptedSockets(server);
    const slow = client(server.listeningOn);
    await waitFor(() => accepted.length === 1, 5000, 'the first connection at the server');
    expect(server.numConnections).toBe(0);
    // The one pending place is taken by the header being read: the next connection is refused.
    const refused = client(server.listeningOn);
    await refused.closed;
    expect(events.map((e) => [e.type, e.error])).toEqual([['rejected', undefined]]);
    server.invariant();
    // The first one's header then comes: it is served, and frees its place.
    slow.socket.end(Buffer.concat([v1(), Buffer.from('slow')]));
    await slow.closed;
    expect(slow.received()).toBe('ok 4');
    expect(await exchange(server.listeningOn, Buffer.concat([v1(), Buffer.from('third')]))).toBe('ok 5');
    expect(seen.map((s) => s.received)).toEqual(['slow', 'third']);
    expect(events.map((e) => e.type)).toEqual([
      'rejected',
      'accepted',
      'connectionClosed',
      'accepted',
      'connectionClosed',
    ]);
    server.invariant();
  });

  it('queues a connection whose header is read while every slot is taken; its bytes wait, in order', async () => {
    const seen: Seen[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const record = recorder(seen);
    let calls = 0;
    const { server, events } = await start(
      (address, reader, writer, connection) =>
        ++calls === 1 ? defer(() => gate) : record(address, reader, writer, connection),
      { maxConnections: 1, maxPendingConnections: 2 },
    );
    const first = client(server.listeningOn);
    first.socket.write(v1({ family: 'inet', host: '198.51.100.1', port: 1 }));
    await waitFor(() => server.numConnections === 1, 5000, 'the first handler');
    const second = client(server.listeningOn);
    const payload = Buffer.alloc(200_000, 'z');
    second.socket.end(Buffer.concat([v1(), Buffer.from('head:'), payload]));
    await waitFor(() => events.some((e) => e.type === 'limitReached'), 5000, 'the second to wait');
    expect(events.filter((e) => e.type !== 'accepted' || e.address?.host !== '198.51.100.1')).toEqual([
      { type: 'accepted', address: CLIENT, numConnections: 1 },
      { type: 'limitReached', address: CLIENT, numConnections: 1 },
    ]);
    server.invariant();
    release();
    await second.closed;
    expect(second.received()).toBe(`ok ${5 + payload.length}`);
    expect(seen[0].received).toBe(`head:${payload.toString('latin1')}`);
    expect(seen[0].address).toEqual(CLIENT);
    server.invariant();
  });

  /** A server of one slot, held by a first connection until `release()`; later ones recorded. */
  async function oneSlotServer(seen: Seen[]) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const record = recorder(seen);
    let calls = 0;
    const started = await start(
      (address, reader, writer, connection) =>
        ++calls === 1 ? defer(() => gate) : record(address, reader, writer, connection),
      { maxConnections: 1 },
    );
    const accepted = acceptedSockets(started.server);
    const first = client(started.server.listeningOn);
    first.socket.write(v1());
    await waitFor(() => started.server.numConnections === 1, 5000, 'the first handler');
    return { ...started, accepted, release };
  }

  it('gives EOF to the reader of a connection whose FIN came while it waited for a slot', async () => {
    const seen: Seen[] = [];
    const { server, events, accepted, release } = await oneSlotServer(seen);
    const waiting = client(server.listeningOn);
    waiting.socket.end(v1());
    await waitFor(() => accepted.length === 2 && accepted[1].readableEnded, 5000, 'its FIN at the server');
    expect(events.map((e) => e.type)).toEqual(['accepted', 'accepted', 'limitReached']);
    release();
    await waiting.closed;
    expect(waiting.received()).toBe('ok 0');
    expect(seen).toEqual([expect.objectContaining({ address: CLIENT, received: '' })]);
    await waitFor(() => server.numConnections === 0, 5000, 'both connections to end');
    server.invariant();
  });

  it('serves on when a connection is reset while it waits for a slot', async () => {
    const seen: Seen[] = [];
    const { server, events, accepted, release } = await oneSlotServer(seen);
    const waiting = client(server.listeningOn);
    waiting.socket.write(v1());
    await waitFor(() => events.some((e) => e.type === 'limitReached'), 5000, 'the second to wait');
    waiting.socket.resetAndDestroy();
    await waitFor(() => accepted.length === 2 && accepted[1].destroyed, 5000, 'the reset at the server');
    release();
    await waitFor(() => server.numConnections === 0, 5000, 'both connections to end');
    expect(events.filter((e) => e.type === 'connectionClosed')).toHaveLength(2);
    expect(await exchange(server.listeningOn, Buffer.concat([v1(), Buffer.from('later')]))).toBe('ok 5');
    expect(seen.at(-1)?.received).toBe('later');
    server.invariant();
  });

  it('closes the connections still reading their header when the server closes, with no event', async () => {
    const { server, events } = await start(recorder([]));
    const accepted = acceptedSockets(server);
    const c = client(server.listeningOn);
    c.socket.write('PROXY TCP4 ');
    await waitFor(() => accepted.length === 1 && accepted[0].bytesRead === 11, 5000, 'the first bytes');
    await lastValueFrom(server.close());
    await c.closed;
    expect(events.map((e) => e.type)).toEqual(['closed']);
    server.invariant();
  });

  it('times the header out on the server scheduler: 10 000 ms by default', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { server, events } = await start(recorder([]), { scheduler });
    const accepted = acceptedSockets(server);
    const c = client(server.listeningOn);
    await waitFor(() => accepted.length === 1, 5000, 'the connection at the server');
    expect(events).toEqual([]);
    scheduler.flush();
    expect(scheduler.now()).toBe(10_000);
    expect(rejections(events)).toHaveLength(1);
    expect((rejections(events)[0].error as Error).message).toBe(
      'PROXY protocol: no complete header within 10000 ms',
    );
    await c.closed;
    server.invariant();
  });
});

describe('listen with proxyProtocol', () => {
  it('emits only the connections whose header was read, with connection.proxy set', async () => {
    const connections: Connection<InetAddress>[] = [];
    let port = 0;
    subscription = listen(loopback(), {
      proxyProtocol: 'v1',
      proxyHeaderTimeout: 2000,
      onListening: (p) => (port = p),
    }).subscribe((connection) => connections.push(connection));
    await waitFor(() => port > 0, 5000, 'listening');
    const bad = client(port);
    bad.socket.write('not a header\r\n');
    await bad.closed;
    const good = client(port);
    good.socket.write(Buffer.concat([v1(), Buffer.from('hi\n')]));
    await waitFor(() => connections.length === 1, 5000, 'the good connection');
    const [connection] = connections;
    expect(connection.proxy).toEqual({ source: CLIENT, destination: FRONT, tlvs: new Map() });
    expect(connection.remoteAddress).toEqual(good.balancer());
    expect(await firstValueFrom(connection.reader.readLine())).toBe('hi');
    connection.writer.writeLine('bye');
    await lastValueFrom(connection.close());
    await good.closed;
    expect(good.received()).toBe('bye\n');
    expect(connections).toHaveLength(1);
  });

  it('closes the connections still reading their header when unsubscribed', async () => {
    let port = 0;
    const accepted: net.Socket[] = [];
    const spy = jest.spyOn(net, 'createServer');
    subscription = listen(loopback(), { proxyProtocol: 'any', onListening: (p) => (port = p) }).subscribe();
    const netServer = spy.mock.results[0].value as net.Server;
    spy.mockRestore();
    await waitFor(() => port > 0, 5000, 'listening');
    netServer.on('connection', (socket: net.Socket) => accepted.push(socket));
    const c = client(port);
    c.socket.write('PROXY');
    await waitFor(() => accepted.length === 1 && accepted[0].bytesRead === 5, 5000, 'the first bytes');
    subscription.unsubscribe();
    await c.closed;
  });
});
