import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import {
  type Connection,
  encodeProxyHeader,
  type InetAddress,
  listen,
  ProxyProtocolError,
  type Reader,
  Server,
  type ServerEvent,
  type ServerOptions,
  type Writer,
} from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, type Subscription } from 'rxjs';
import { type Certificates, makeCertificates } from '../helpers/certificates';
import { once, waitFor, within } from '../helpers/net';
import { loopback } from '../helpers/servers';

import net = require('node:net');

// TLS passed through a load balancer in TCP mode (HAProxy `mode tcp` with `send-proxy`): the PROXY
// header comes in plaintext, then the client's TLS handshake.

const CLIENT: InetAddress = { family: 'inet', host: '203.0.113.7', port: 51234 };
const FRONT: InetAddress = { family: 'inet', host: '192.0.2.1', port: 443 };
const v2 = () =>
  encodeProxyHeader(2, { source: CLIENT, destination: FRONT, tlvs: new Map([[0x01, Buffer.from('h2')]]) });

let certs: Certificates;
const servers: Server<InetAddress, number>[] = [];
const sockets: net.Socket[] = [];
let subscription: Subscription | undefined;

beforeAll(() => {
  certs = makeCertificates();
});

afterEach(async () => {
  subscription?.unsubscribe();
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    await lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {});
  }
});

interface Seen {
  address: InetAddress;
  connection: Connection<InetAddress>;
  /** The connection's remote address, looked up while it is open. */
  remoteAddress: InetAddress;
  line: string;
}

/** Reads a line and answers with it and the client's address. */
const greeter =
  (seen: Seen[]) =>
  (address: InetAddress, reader: Reader, writer: Writer, connection: Connection<InetAddress>) =>
    defer(async () => {
      const line = String(await firstValueFrom(reader.readLine()));
      seen.push({ address, connection, remoteAddress: connection.remoteAddress, line });
      writer.writeLine(`${line} from ${address.host}`);
    });

async function start(seen: Seen[], options: ServerOptions<InetAddress> = {}) {
  const server = await firstValueFrom(
    Server.create(loopback(), greeter(seen), { tls: certs.server, proxyProtocol: 'any', ...options }),
  );
  servers.push(server);
  const events: ServerEvent<InetAddress>[] = [];
  server.events.subscribe((event) => events.push(event));
  return { server, events };
}

/** The TCP sockets a server accepts from now on, as Node hands them to it. */
function atServerOf(server: Server<InetAddress, number>): net.Socket[] {
  const accepted: net.Socket[] = [];
  server.listeningSocket.on('connection', (socket: net.Socket) => accepted.push(socket));
  return accepted;
}

/** A TCP connection to `port` that swallows its errors. */
function tcp(port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  sockets.push(socket);
  return socket;
}

/**
 * A TLS client that writes `header` in plaintext first: in the same write as its ClientHello, so
 * that the server reads both in one chunk, or alone, read by the server (whose TCP sockets
 * `together` lists then) before the handshake starts.
 */
async function tlsClientAfter(
  port: number,
  header: Buffer,
  together: true | net.Socket[],
  options: tls.ConnectionOptions = {},
) {
  const socket = tcp(port);
  let localPort: number | undefined;
  socket.on('connect', () => (localPort = socket.localPort));
  let transport: net.Socket | Duplex = socket;
  if (together === true) {
    let first = true;
    transport = new Duplex({
      write(chunk: Buffer, _encoding, done) {
        socket.write(first ? Buffer.concat([header, chunk]) : chunk, done);
        first = false;
      },
      final(done) {
        socket.end(done);
      },
      read() {},
    });
    socket.on('data', (chunk) => (transport as Duplex).push(chunk));
    socket.on('end', () => (transport as Duplex).push(null));
    socket.on('close', () => (transport as Duplex).destroy());
  } else {
    const atServer = together;
    const index = atServer.length;
    socket.write(header);
    await waitFor(() => atServer[index]?.bytesRead === header.length, 5000, 'the header at the server');
  }
  const secure = tls.connect({
    socket: transport as net.Socket,
    servername: 'localhost',
    ca: certs.ca,
    ...options,
  });
  secure.on('error', () => {});
  const chunks: Buffer[] = [];
  secure.on('data', (chunk) => chunks.push(chunk));
  return {
    secure,
    balancerPort: () => localPort,
    closed: within(once(socket, 'close'), 10_000, 'the connection to close'),
    received: () => Buffer.concat(chunks).toString(),
  };
}

describe('Server.create with tls and proxyProtocol', () => {
  it.each([
    ['in the same write as the ClientHello', true],
    ['in a write of its own', false],
  ])('reads the header %s, then does the TLS handshake on the bytes after it', async (_, together) => {
    const seen: Seen[] = [];
    const { server, events } = await start(seen);
    const atServer = atServerOf(server);
    const firstChunks: number[] = [];
    server.listeningSocket.on('connection', (socket: net.Socket) =>
      socket.once('data', (chunk: Buffer) => firstChunks.push(chunk.length)),
    );
    const client = await tlsClientAfter(server.listeningOn, v2(), together || atServer);
    await once(client.secure, 'secureConnect');
    // The server's first read held the header and, or not, the ClientHello behind it.
    if (together) expect(firstChunks[0]).toBeGreaterThan(v2().length);
    else expect(firstChunks).toEqual([v2().length]);
    client.secure.end('hello\n');
    await client.closed;
    expect(client.received()).toBe('hello from 203.0.113.7\n');
    const [{ address, connection, remoteAddress, line }] = seen;
    expect(line).toBe('hello');
    expect(address).toEqual(CLIENT);
    expect(connection.proxy).toEqual({
      source: CLIENT,
      destination: FRONT,
      tlvs: new Map([[0x01, Buffer.from('h2')]]),
    });
    expect(connection.socket.nodeSocket).toBeInstanceOf(tls.TLSSocket);
    expect(remoteAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: client.balancerPort() });
    await waitFor(() => events.length === 2, 5000, 'the connectionClosed event');
    expect(events.map((e) => [e.type, e.address])).toEqual([
      ['accepted', CLIENT],
      ['connectionClosed', CLIENT],
    ]);
    server.invariant();
  });

  it('rejects a failed handshake after a good header as a TLS server does: the TLS error, no handler', async () => {
    const seen: Seen[] = [];
    const { server, events } = await start(seen);
    // A client that does not trust the server's certificate.
    const client = await tlsClientAfter(server.listeningOn, v2(), atServerOf(server), {
      ca: certs.selfSigned.cert,
    });
    await client.closed;
    await waitFor(() => events.some((e) => e.type === 'rejected'), 5000, 'the rejected event');
    expect(events.map((e) => e.type)).toEqual(['rejected']);
    expect(events[0].error).not.toBeInstanceOf(ProxyProtocolError);
    expect(events[0].error).toMatchObject({ code: expect.stringMatching(/^ERR_SSL_|^ECONNRESET$/) });
    // Plaintext after the header: not a handshake either.
    const plain = tcp(server.listeningOn);
    plain.end(Buffer.concat([v2(), Buffer.from('GET / HTTP/1.0\r\n\r\n')]));
    await once(plain, 'close');
    await waitFor(() => events.length === 2, 5000, 'the second rejected event');
    expect(events[1]).toMatchObject({
      type: 'rejected',
      error: { code: expect.stringMatching(/^ERR_SSL_/) },
    });
    expect(seen).toEqual([]);
    // And the server serves on.
    const good = await tlsClientAfter(server.listeningOn, v2(), true);
    good.secure.end('again\n');
    await good.closed;
    expect(good.received()).toBe('again from 203.0.113.7\n');
    server.invariant();
  });

  it('rejects a bad header before any handshake with a ProxyProtocolError', async () => {
    const seen: Seen[] = [];
    const { server, events } = await start(seen, { proxyProtocol: 'v1' });
    const client = await tlsClientAfter(server.listeningOn, v2(), true);
    await client.closed;
    await waitFor(() => events.length === 1, 5000, 'the rejected event');
    expect(events[0].error).toBeInstanceOf(ProxyProtocolError);
    expect(seen).toEqual([]);
    server.invariant();
  });
});

describe('listen with tls and proxyProtocol', () => {
  it('emits the TLS connection once its header is read and its handshake done', async () => {
    const connections: Connection<InetAddress>[] = [];
    let port = 0;
    subscription = listen(loopback(), {
      tls: certs.server,
      proxyProtocol: 'v2',
      onListening: (p) => (port = p),
    }).subscribe((connection) => connections.push(connection));
    await waitFor(() => port > 0, 5000, 'listening');
    const client = await tlsClientAfter(port, v2(), true);
    client.secure.write('hi\n');
    await waitFor(() => connections.length === 1, 5000, 'the connection');
    const [connection] = connections;
    expect(connection.proxy?.source).toEqual(CLIENT);
    expect(connection.socket.nodeSocket).toBeInstanceOf(tls.TLSSocket);
    expect(await firstValueFrom(connection.reader.readLine())).toBe('hi');
    connection.writer.writeLine('bye');
    await lastValueFrom(connection.close());
    await client.closed;
    expect(client.received()).toBe('bye\n');
  });
});
