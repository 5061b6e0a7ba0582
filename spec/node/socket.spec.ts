import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  connect,
  connectSock,
  type InetAddress,
  listen,
  onFile,
  Server,
  type Socket,
  toFile,
  toHostAndPort,
} from 'rx-tcp';
import { firstValueFrom, lastValueFrom, NEVER, type Subscription } from 'rxjs';
import { makeCertificates } from '../helpers/certificates';
import { rawServer, waitFor } from '../helpers/net';
import { loopback, tempDir } from '../helpers/servers';

/** The socket options the kernel holds for a TCP socket. */
interface KernelOptions {
  noDelay: number;
  keepAlive: number;
  /** Seconds of idleness before the first keep-alive probe (TCP_KEEPIDLE). */
  keepIdle: number;
}

/**
 * Reads a socket's options back from the kernel. Node has no getsockopt, so the descriptor is
 * handed to a Python child (as its fd 3, through spawn's stdio) which calls getsockopt on it.
 * Node stops reading a socket it hands to a child: only use this on a socket about to be dropped.
 */
function kernelOptions(socket: net.Socket): Promise<KernelOptions> {
  const script = [
    'import json, socket',
    's = socket.socket(fileno=3)',
    'o = lambda level, name: s.getsockopt(level, name)',
    'print(json.dumps({"noDelay": o(socket.IPPROTO_TCP, socket.TCP_NODELAY),',
    '  "keepAlive": o(socket.SOL_SOCKET, socket.SO_KEEPALIVE), "keepIdle": o(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)}))',
    's.detach()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit', socket] });
  let out = '';
  child.stdout!.on('data', (data: Buffer) => (out += data));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as KernelOptions) : reject(new Error(`python3 exited ${code}`)),
    );
  });
}

describe('Socket', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    jest.restoreAllMocks();
  });

  /** A raw server on 127.0.0.1 whose accepted sockets are kept (and destroyed at the end). */
  async function peer() {
    const server = await rawServer(() => {});
    cleanups.push(() => server.close());
    return server;
  }

  async function connected(): Promise<Socket<InetAddress>> {
    const { port } = await peer();
    const socket = await firstValueFrom(connectSock(toHostAndPort('127.0.0.1', port)));
    cleanups.push(() => socket.nodeSocket.destroy());
    return socket;
  }

  describe('options', () => {
    it('has no-delay on from the start, as in Async (read back from the kernel)', async () => {
      const socket = await connected();
      expect(await kernelOptions(socket.nodeSocket)).toMatchObject({ noDelay: 1, keepAlive: 0 });
    });

    it('setNoDelay turns Nagle back on and off, and chains', async () => {
      const socket = await connected();
      expect(socket.setNoDelay(false)).toBe(socket);
      expect((await kernelOptions(socket.nodeSocket)).noDelay).toBe(0);
      socket.setNoDelay();
      expect((await kernelOptions(socket.nodeSocket)).noDelay).toBe(1);
    });

    it('setKeepAlive turns probes on with an initial delay, and off', async () => {
      const socket = await connected();
      expect(socket.setKeepAlive(true, 10_000)).toBe(socket);
      expect(await kernelOptions(socket.nodeSocket)).toMatchObject({ keepAlive: 1, keepIdle: 10 });
      socket.setKeepAlive(false);
      expect((await kernelOptions(socket.nodeSocket)).keepAlive).toBe(0);
      socket.setKeepAlive();
      expect((await kernelOptions(socket.nodeSocket)).keepAlive).toBe(1);
    });

    it('rejects a bad initial delay at the call', async () => {
      const socket = await connected();
      expect(() => socket.setKeepAlive(true, -1)).toThrow(RangeError);
      expect(() => socket.setKeepAlive(true, Number.NaN)).toThrow(/initialDelay/);
    });

    it('gives sockets accepted by Server.create and listen no-delay too', async () => {
      const accepted: net.Socket[] = [];
      const server = await firstValueFrom(Server.create(loopback(), () => NEVER));
      cleanups.push(() => lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {}));
      server.listeningSocket.on('connection', (socket: net.Socket) => accepted.push(socket));
      let port = 0;
      const subscription: Subscription = listen(loopback(), { onListening: (p) => (port = p) }).subscribe(
        (connection) => accepted.push(connection.socket.nodeSocket),
      );
      cleanups.push(() => subscription.unsubscribe());
      await waitFor(() => port > 0, 5000, 'listening');
      for (const target of [server.listeningOn, port]) {
        const client = net.connect({ host: '127.0.0.1', port: target });
        client.on('error', () => {});
        cleanups.push(() => client.destroy());
      }
      await waitFor(() => accepted.length === 2, 5000, 'both accepts');
      for (const socket of accepted) {
        expect((await kernelOptions(socket)).noDelay).toBe(1);
        socket.destroy();
      }
    });

    it('gives TLS sockets no-delay, on both sides', async () => {
      const certs = makeCertificates();
      const raw: net.Socket[] = [];
      const server = await firstValueFrom(
        Server.create(loopback(), () => NEVER, { tls: { key: certs.server.key, cert: certs.server.cert } }),
      );
      cleanups.push(() => lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {}));
      // The TCP socket beneath the server's TLS socket, before its handshake.
      server.listeningSocket.on('connection', (socket: net.Socket) => raw.push(socket));
      // The client's TLS socket hides its TCP socket; Node passes setNoDelay down to it.
      const setNoDelay = jest.spyOn(tls.TLSSocket.prototype, 'setNoDelay');
      const socket = await firstValueFrom(
        connectSock(toHostAndPort('localhost', server.listeningOn), { tls: { ca: certs.ca } }),
      );
      cleanups.push(() => socket.nodeSocket.destroy());
      expect(setNoDelay.mock.contexts).toContain(socket.nodeSocket);
      expect(setNoDelay.mock.calls.every(([noDelay]) => noDelay !== false)).toBe(true);
      await waitFor(() => raw.length === 1, 5000, 'the accept');
      expect((await kernelOptions(raw[0])).noDelay).toBe(1);
    });
  });

  describe('addresses', () => {
    it('reports both ends of a TCP connection, each end agreeing with the other', async () => {
      const server = await peer();
      const connection = await firstValueFrom(connect(toHostAndPort('localhost', server.port)));
      cleanups.push(() => lastValueFrom(connection.close()).catch(() => {}));
      await waitFor(() => server.sockets.length === 1, 5000, 'the accept');
      const { socket } = connection;
      const [accepted] = server.sockets;
      expect(socket.family).toBe('inet');
      expect(socket.remoteAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: server.port });
      expect(socket.localAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: accepted.remotePort });
      // Looked up once, then kept: the same object each time.
      expect(socket.localAddress).toBe(socket.localAddress);
      expect(connection.localAddress).toBe(socket.localAddress);
      expect(connection.remoteAddress).toBe(socket.remoteAddress);
    });

    it('reports a Unix socket by its path on the side that has one', async () => {
      const { dir, remove } = tempDir();
      cleanups.push(remove);
      const path = `${dir}/s.sock`;
      const accepted: Socket[] = [];
      let listening = false;
      const subscription = listen(onFile(path), { onListening: () => (listening = true) }).subscribe(
        (connection) => {
          accepted.push(connection.socket);
          cleanups.push(() => lastValueFrom(connection.close()).catch(() => {}));
        },
      );
      cleanups.push(() => subscription.unsubscribe());
      await waitFor(() => listening, 5000, 'listening');
      const socket = await firstValueFrom(connectSock(toFile(path)));
      cleanups.push(() => socket.nodeSocket.destroy());
      await waitFor(() => accepted.length === 1, 5000, 'the accept');
      expect(socket.family).toBe('unix');
      expect(socket.remoteAddress).toEqual({ family: 'unix', path });
      expect(socket.localAddress).toEqual({ family: 'unix', path: '' });
      expect(accepted[0].localAddress).toEqual({ family: 'unix', path });
      expect(accepted[0].remoteAddress).toEqual({ family: 'unix', path: '' });
    });
  });
});
