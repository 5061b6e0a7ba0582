import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  BufferAgeLimitError,
  ConnectInterruptedError,
  type Connection,
  ConnectTimeoutError,
  connect,
  connectSock,
  EOF,
  type InetAddress,
  listen,
  onFile,
  type Reader,
  Server,
  type ServerEvent,
  type ServerOptions,
  toFile,
  toHostAndPort,
  type Writer,
  withConnection,
} from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, NEVER, Subject, take, toArray } from 'rxjs';
import { type Certificates, makeCertificates } from './helpers/certificates';
import { backUp, collect, once, rawServer, waitFor } from './helpers/net';
import { loopback, tempDir } from './helpers/servers';

/**
 * For the tests that need src/node/socket-transport.ts to handle TLS sockets: its abort()
 * calls resetAndDestroy(), which Node refuses beneath TLS (ERR_INVALID_HANDLE_TYPE, thrown from
 * writer.error(), the buffer-age and force-close timers, Connection.destroy()), and its start()
 * never reports a socket that died before it was wired (a TLS connection reset while waiting for
 * a slot: it reads on after its handshake). Skipped until that change is in; then make it `it`.
 */

let certs: Certificates;
/** What a client needs to trust the test server: the test CA, and nothing else. */
const trusted = () => ({ ca: certs.ca });

const servers: Server<InetAddress, number>[] = [];
const cleanups: (() => unknown)[] = [];

beforeAll(() => {
  certs = makeCertificates();
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    await lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {});
  }
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  jest.restoreAllMocks();
});

/** A TLS `Server.create` on 127.0.0.1, with its events recorded. */
async function tlsServer(
  handler: Parameters<typeof Server.create<InetAddress, number>>[1],
  options: ServerOptions<InetAddress> = {},
): Promise<{ server: Server<InetAddress, number>; events: ServerEvent<InetAddress>[] }> {
  const server = await firstValueFrom(Server.create(loopback(), handler, { tls: certs.server, ...options }));
  servers.push(server);
  const events: ServerEvent<InetAddress>[] = [];
  server.events.subscribe((event) => events.push(event));
  return { server, events };
}

/** A plain `node:tls` server on 127.0.0.1 (half-open, like rx-tcp's), for testing the client side. */
async function rawTlsServer(
  onConnection: (socket: tls.TLSSocket) => void,
  options: tls.TlsOptions = {},
): Promise<{ port: number; sockets: tls.TLSSocket[] }> {
  const sockets: tls.TLSSocket[] = [];
  const server = tls.createServer({ ...certs.server, allowHalfOpen: true, ...options }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/** A client connection over TLS and the raw TLS socket at its other end. */
async function pair(
  options: Parameters<typeof connect>[1] = {},
  serverOptions: tls.TlsOptions = {},
): Promise<{ connection: Connection<InetAddress>; peer: tls.TLSSocket }> {
  const server = await rawTlsServer(() => {}, serverOptions);
  const connection = await firstValueFrom(
    connect(toHostAndPort('localhost', server.port), { tls: trusted(), ...options }),
  );
  cleanups.push(() => closeQuietly(connection));
  await waitFor(() => server.sockets.length === 1, 5000, 'the handshake at the server');
  return { connection, peer: server.sockets[0] };
}

/**
 * Closes a connection whatever state it is in: through `close()` rather than `destroy()`, so that
 * its writer's timers (buffer age, force-close) are cancelled and do not hold the process.
 */
function closeQuietly(connection: Connection): Promise<void> {
  return lastValueFrom(connection.close(), { defaultValue: undefined }).catch(() => {});
}

/** Reads one line and answers it twice (Async's classic). */
const answerTwice = (_address: unknown, reader: Reader, writer: Writer) =>
  defer(async () => {
    const line = await firstValueFrom(reader.readLine());
    if (line === EOF) return;
    writer.writeLine(`${line} 1`);
    writer.writeLine(`${line} 2`);
  });

/** Sends `hello` and collects every answer line until EOF. */
function askHello(port: number, options: Parameters<typeof withConnection>[2] = {}) {
  return lastValueFrom(
    withConnection(
      toHostAndPort('localhost', port),
      ({ reader, writer }) => {
        writer.writeLine('hello');
        return reader.lines().pipe(toArray());
      },
      { tls: trusted(), ...options },
    ),
  );
}

/** Sends `total` random bytes from `socket` with backpressure; returns their digest and a progress count. */
function pump(socket: net.Socket, total: number, chunkBytes = 64 * 1024) {
  const chunk = crypto.randomBytes(chunkBytes);
  const digest = crypto.createHash('sha256');
  const progress = { sent: 0, digest: () => digest.digest('hex') };
  const next = () => {
    while (progress.sent < total) {
      progress.sent += chunk.length;
      digest.update(chunk);
      if (!socket.write(chunk)) {
        socket.once('drain', next);
        return;
      }
    }
    socket.end();
  };
  next();
  return progress;
}

/** Resolves once `value()` has not changed for `quietMs` (the flow stalled); rejects after 20 s. */
function stalled(value: () => number, quietMs = 300): Promise<void> {
  let last = -1;
  let quietSince = Date.now();
  return waitFor(
    () => {
      if (value() !== last) [last, quietSince] = [value(), Date.now()];
      return Date.now() - quietSince > quietMs;
    },
    20_000,
    'the flow to stall',
  );
}

describe('TLS', () => {
  describe('connecting and serving', () => {
    it("serves Async's classic over TLS 1.3, the server authenticated by the client", async () => {
      const { server } = await tlsServer(answerTwice);
      const seen: { authorized: boolean; protocol: string | null }[] = [];
      const answers = await lastValueFrom(
        withConnection(
          toHostAndPort('localhost', server.listeningOn),
          ({ socket, reader, writer }) => {
            const node = socket.nodeSocket as tls.TLSSocket;
            seen.push({ authorized: node.authorized, protocol: node.getProtocol() });
            writer.writeLine('hello');
            return reader.lines().pipe(toArray());
          },
          { tls: trusted() },
        ),
      );
      expect(answers).toEqual(['hello 1', 'hello 2']);
      expect(seen).toEqual([{ authorized: true, protocol: 'TLSv1.3' }]);
    });

    it('connectSock emits a TLS socket that has finished its handshake', async () => {
      const { server } = await tlsServer(answerTwice);
      const socket = await firstValueFrom(
        connectSock(toHostAndPort('127.0.0.1', server.listeningOn), { tls: trusted() }),
      );
      const node = socket.nodeSocket as tls.TLSSocket;
      expect(node.authorized).toBe(true);
      expect(node.getPeerCertificate().subject.CN).toBe('localhost');
      expect(socket.remoteAddress).toEqual({ family: 'inet', host: '127.0.0.1', port: server.listeningOn });
      node.destroy();
    });

    it('sends the host name of toHostAndPort as SNI, and none for an IP literal (RFC 6066)', async () => {
      // Node would pass an IP literal given as servername on to the server (with a DEP0123 warning).
      const names: (string | false)[] = [];
      const ports = new Subject<number>();
      const listeningOn = firstValueFrom(ports);
      const subscription = listen(loopback(), {
        tls: certs.server,
        onListening: (port) => ports.next(port),
      }).subscribe((connection) => {
        names.push(
          (connection.socket.nodeSocket as tls.TLSSocket & { servername: string | false }).servername,
        );
        cleanups.push(() => closeQuietly(connection)); // the connections of listen are ours to close
      });
      cleanups.push(() => subscription.unsubscribe());
      const port = await listeningOn;
      const sockets = [];
      for (const host of ['localhost', '127.0.0.1']) {
        sockets.push(await firstValueFrom(connectSock(toHostAndPort(host, port), { tls: trusted() })));
        await waitFor(() => names.length === sockets.length, 5000, `the connection to ${host}`);
      }
      for (const socket of sockets) socket.nodeSocket.destroy();
      expect(names).toEqual(['localhost', false]);
    });

    it('tls: true trusts the system CAs only, so the test CA is UNABLE_TO_VERIFY_LEAF_SIGNATURE', async () => {
      const { server } = await tlsServer(answerTwice);
      const error = await firstValueFrom(
        connect(toHostAndPort('localhost', server.listeningOn), { tls: true }),
      ).catch((e) => e);
      expect(error).toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      expect(await askHello(server.listeningOn)).toEqual(['hello 1', 'hello 2']);
    });

    it('rejects a self-signed certificate with DEPTH_ZERO_SELF_SIGNED_CERT', async () => {
      const { server } = await tlsServer(answerTwice, { tls: certs.selfSigned });
      const error = await firstValueFrom(
        connect(toHostAndPort('localhost', server.listeningOn), { tls: trusted() }),
      ).catch((e) => e);
      expect(error).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      // Node 24 adds advice after the reason ("…; if the root CA is installed locally, …").
      expect(error.message).toMatch(/^self-signed certificate/);
      // Trusting that very certificate makes it acceptable.
      expect(await askHello(server.listeningOn, { tls: { ca: certs.selfSigned.cert } })).toEqual([
        'hello 1',
        'hello 2',
      ]);
    });

    it('rejects a certificate for another name with ERR_TLS_CERT_ALTNAME_INVALID', async () => {
      const { server } = await tlsServer(answerTwice);
      const error = await firstValueFrom(
        connect(toHostAndPort('127.0.0.1', server.listeningOn), {
          tls: { ...trusted(), servername: 'example.com' },
        }),
      ).catch((e) => e);
      expect(error).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    });

    it('fails with OpenSSL code when no protocol version is common; the server is not stopped', async () => {
      const handled: unknown[] = [];
      const { server, events } = await tlsServer(
        (address, reader, writer) => {
          handled.push(address);
          return answerTwice(address, reader, writer);
        },
        { tls: { ...certs.server, maxVersion: 'TLSv1.2' } },
      );
      const error = await firstValueFrom(
        connect(toHostAndPort('localhost', server.listeningOn), {
          tls: { ...trusted(), minVersion: 'TLSv1.3' },
        }),
      ).catch((e) => e);
      expect(error.code).toMatch(/^ERR_SSL_/);
      await waitFor(() => events.some((e) => e.type === 'rejected'), 5000, 'the rejected event');
      expect(events.find((e) => e.type === 'rejected')?.error).toMatchObject({
        code: expect.stringMatching(/^ERR_SSL_/),
      });
      expect(handled).toEqual([]);
      expect(server.isClosed()).toBe(false);
      expect(await askHello(server.listeningOn)).toEqual(['hello 1', 'hello 2']);
      expect(handled).toHaveLength(1);
    });

    it('connects over a Unix socket too, checking the certificate against localhost', async () => {
      const { dir, remove } = tempDir();
      cleanups.push(remove);
      const path = `${dir}/tls.sock`;
      const received: string[] = [];
      let listening = false;
      const subscription = listen(onFile(path), {
        tls: certs.server,
        onListening: () => (listening = true),
      }).subscribe((connection) => {
        connection.reader.readLine().subscribe((line) => {
          received.push(String(line));
          connection.close().subscribe();
        });
      });
      cleanups.push(() => subscription.unsubscribe());
      await waitFor(() => listening, 5000, 'listening');
      await lastValueFrom(
        withConnection(
          toFile(path),
          ({ writer, reader }) => {
            writer.writeLine('over unix');
            return reader.contents();
          },
          { tls: trusted() },
        ),
      );
      expect(received).toEqual(['over unix']);
    });
  });

  describe('the connect timeout and interrupt cover the handshake', () => {
    /** A TCP listener that accepts and never says a word: the TLS handshake hangs. */
    async function mute() {
      const server = await rawServer(() => {});
      cleanups.push(() => server.close());
      return server;
    }

    /** Resolves when the client closes its end of `socket` (read on, so that 'end' can come). */
    function ended(socket: net.Socket): Promise<unknown> {
      socket.resume();
      return once(socket, 'end');
    }

    it('times out with ConnectTimeoutError while the handshake hangs, and destroys the socket', async () => {
      const server = await mute();
      const started = Date.now();
      const error = await firstValueFrom(
        connectSock(toHostAndPort('127.0.0.1', server.port), { tls: trusted(), timeout: 300 }),
      ).catch((e) => e);
      expect(error).toBeInstanceOf(ConnectTimeoutError);
      expect(error.message).toBe(`connection attempt timeout 127.0.0.1:${server.port}`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      // The TCP connection was made: it is the handshake that the timeout cut short.
      expect(server.sockets).toHaveLength(1);
      await ended(server.sockets[0]);
    });

    it('is interrupted by an AbortSignal during the handshake', async () => {
      const server = await mute();
      const controller = new AbortController();
      const result = firstValueFrom(
        connectSock(toHostAndPort('127.0.0.1', server.port), {
          tls: trusted(),
          interrupt: controller.signal,
        }),
      );
      await waitFor(() => server.sockets.length === 1, 5000, 'the TCP connection');
      controller.abort();
      const error = await result.catch((e) => e);
      expect(error).toBeInstanceOf(ConnectInterruptedError);
      await ended(server.sockets[0]);
    });

    it('releases the socket when unsubscribed during the handshake', async () => {
      const server = await mute();
      const subscription = connectSock(toHostAndPort('127.0.0.1', server.port), {
        tls: trusted(),
      }).subscribe();
      await waitFor(() => server.sockets.length === 1, 5000, 'the TCP connection');
      subscription.unsubscribe();
      await ended(server.sockets[0]);
    });
  });

  describe('the server side', () => {
    it('never calls the handler for a client that is not speaking TLS, reports it, and serves on', async () => {
      const handled: unknown[] = [];
      const { server, events } = await tlsServer((address, reader, writer) => {
        handled.push(address);
        return answerTwice(address, reader, writer);
      });
      const plain = net.connect({ host: '127.0.0.1', port: server.listeningOn });
      plain.on('error', () => {});
      plain.write('GET / HTTP/1.0\r\n\r\n');
      const closed = once(plain, 'close');
      await closed;
      await waitFor(() => events.some((e) => e.type === 'rejected'), 5000, 'the rejected event');
      const rejected = events.find((e) => e.type === 'rejected');
      expect(rejected?.error).toMatchObject({ code: expect.stringMatching(/^ERR_SSL_/) });
      expect(handled).toEqual([]);
      expect(await askHello(server.listeningOn)).toEqual(['hello 1', 'hello 2']);
      expect(handled).toHaveLength(1);
      await waitFor(() => server.numConnections === 0, 5000, 'the connection to close');
    });

    it('closes a client that never completes its handshake, at handshakeTimeout, and reports it', async () => {
      const { server, events } = await tlsServer(answerTwice, {
        tls: { ...certs.server, handshakeTimeout: 200 },
      });
      const silent = net.connect({ host: '127.0.0.1', port: server.listeningOn });
      silent.on('error', () => {});
      const started = Date.now();
      silent.resume();
      await once(silent, 'close');
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      await waitFor(() => events.some((e) => e.type === 'rejected'), 5000, 'the rejected event');
      expect(events.find((e) => e.type === 'rejected')?.error).toMatchObject({
        code: 'ERR_TLS_HANDSHAKE_TIMEOUT',
      });
      expect(await askHello(server.listeningOn)).toEqual(['hello 1', 'hello 2']);
    });

    it('releases the descriptor of a client that leaves as its handshake ends, without waiting', async () => {
      // Within handshakeTimeout (120 s by default), which the test would exceed.
      const { server } = await tlsServer(answerTwice);
      const connections = () =>
        new Promise<number>((resolve, reject) =>
          server.listeningSocket.getConnections((error, count) => (error ? reject(error) : resolve(count))),
        );
      for (let i = 0; i < 5; i++) {
        const socket = await firstValueFrom(
          connectSock(toHostAndPort('localhost', server.listeningOn), { tls: trusted() }),
        );
        socket.nodeSocket.destroy();
      }
      let count = -1;
      const deadline = Date.now() + 5000;
      while (count !== 0 && Date.now() < deadline) {
        count = await connections();
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(count).toBe(0);
    });

    it('with requestCert, a client without a certificate is refused and never reaches the handler', async () => {
      const handled: unknown[] = [];
      const { server, events } = await tlsServer(
        (address, reader, writer) => {
          handled.push(address);
          return answerTwice(address, reader, writer);
        },
        { tls: { ...certs.server, ca: certs.ca, requestCert: true, rejectUnauthorized: true } },
      );
      // In TLS 1.3 the client's handshake ends before the server has checked its certificate:
      // the refusal arrives as an error of the first read.
      const refused = await askHello(server.listeningOn).catch((e) => e);
      expect(refused.code).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
      await waitFor(() => events.some((e) => e.type === 'rejected'), 5000, 'the rejected event');
      expect(handled).toEqual([]);
      // With its certificate, the same client is served.
      const answers = await askHello(server.listeningOn, { tls: { ...trusted(), ...certs.client } });
      expect(answers).toEqual(['hello 1', 'hello 2']);
      expect(handled).toHaveLength(1);
    });

    it('closes a connection whose handshake completes after the listening socket closed', async () => {
      const handled: unknown[] = [];
      const { server } = await tlsServer((address) => {
        handled.push(address);
        return NEVER;
      });
      // The TCP connection is accepted, but the handshake only starts after close().
      const raw = net.connect({ host: '127.0.0.1', port: server.listeningOn });
      raw.on('error', () => {});
      await once(raw, 'connect');
      await lastValueFrom(server.close());
      const late = tls.connect({ socket: raw, ...trusted(), servername: 'localhost' });
      late.on('error', () => {});
      await once(late, 'close');
      expect(handled).toEqual([]);
    });

    it('survives a reset of a TLS connection waiting for a slot: its handler sees the reset, a connection failure', async () => {
      // Unlike a plain one (accepted paused), a TLS connection reads on after its handshake, so
      // it can learn of the reset while it waits, before anything listens to it.
      const gate = new Subject<void>();
      const served: string[] = [];
      const failures: unknown[] = [];
      const { server, events } = await tlsServer(
        (_address, reader, writer) =>
          defer(async () => {
            const line = await firstValueFrom(reader.readLine());
            served.push(String(line));
            writer.writeLine(`${String(line)} served`);
            if (line === 'first') await firstValueFrom(gate);
          }),
        { maxConnections: 1, onHandlerError: { call: (_address, error) => failures.push(error) } },
      );
      const accepted: tls.TLSSocket[] = [];
      server.listeningSocket.on('secureConnection', (socket: tls.TLSSocket) => accepted.push(socket));
      const first = await firstValueFrom(
        connect(toHostAndPort('localhost', server.listeningOn), { tls: trusted() }),
      );
      cleanups.push(() => closeQuietly(first));
      first.writer.writeLine('first');
      expect(await firstValueFrom(first.reader.readLine())).toBe('first served');
      // The second waits for the slot, its handshake done; then its TCP connection is reset.
      const raw = net.connect({ host: '127.0.0.1', port: server.listeningOn });
      raw.on('error', () => {});
      const waiting = tls.connect({ socket: raw, ...trusted(), servername: 'localhost' });
      waiting.on('error', () => {});
      await once(waiting, 'secureConnect');
      waiting.write('second\n');
      await waitFor(() => events.some((e) => e.type === 'limitReached'), 5000, 'limitReached');
      raw.resetAndDestroy();
      await waitFor(() => accepted[1]?.destroyed === true, 5000, 'the server to see the reset');
      gate.next();
      expect(await askHello(server.listeningOn)).toEqual(['hello served']);
      expect(served).toEqual(['first', 'hello']);
      expect(failures).toEqual([]); // not a handler error
      const closedWith = events.filter((e) => e.type === 'connectionClosed' && e.error !== undefined);
      expect(closedWith.map((e) => e.error)).toEqual([expect.objectContaining({ code: 'ECONNRESET' })]);
      expect(server.isClosed()).toBe(false);
    });
  });

  describe('the Reader and the Writer over TLS', () => {
    it.each(['TLSv1.2', 'TLSv1.3'] as const)(
      '%s half-close: the peer close_notify + FIN completes the reader while our writer goes on',
      async (version) => {
        const { connection, peer } = await pair({}, { minVersion: version, maxVersion: version });
        expect(peer.getProtocol()).toBe(version);
        const received = collect(peer);
        peer.end('bye');
        expect((await firstValueFrom(connection.reader.contents())).toString()).toBe('bye');
        connection.writer.writeLine('still writing after your FIN');
        await lastValueFrom(connection.writer.close());
        expect((await received).toString()).toBe('still writing after your FIN\n');
      },
    );

    it.each(['TLSv1.2', 'TLSv1.3'] as const)(
      '%s half-close: our writer.close() ends the peer reading; the reader goes on',
      async (version) => {
        const { connection, peer } = await pair({}, { minVersion: version, maxVersion: version });
        peer.on('end', () => peer.end('answer after your FIN'));
        const request = collect(peer);
        connection.writer.write('request');
        await lastValueFrom(connection.writer.close());
        expect((await request).toString()).toBe('request');
        expect((await firstValueFrom(connection.reader.contents())).toString()).toBe('answer after your FIN');
      },
    );

    it('half-close on the server side: the handler reads to the client FIN, then answers', async () => {
      const { server } = await tlsServer((_address, reader, writer) =>
        defer(async () => {
          const request = await firstValueFrom(reader.contents());
          writer.writeLine(`got ${request.length} bytes`);
        }),
      );
      const answer = await lastValueFrom(
        withConnection(
          toHostAndPort('localhost', server.listeningOn),
          ({ reader, writer }) => {
            writer.write(Buffer.alloc(100_000, 'x'));
            writer.close().subscribe();
            return reader.lines().pipe(toArray());
          },
          { tls: trusted() },
        ),
      );
      expect(answer).toEqual(['got 100000 bytes']);
    });

    it('pauses past readerBufferSize, so that a peer sending 64 MiB stalls; then all arrives intact', async () => {
      const { connection, peer } = await pair({ readerBufferSize: 64 * 1024 });
      const total = 64 * 1024 * 1024;
      const progress = pump(peer, total);
      await stalled(() => progress.sent);
      expect(progress.sent).toBeLessThan(24 * 1024 * 1024);
      expect(connection.reader.bytesBuffered).toBeLessThanOrEqual(64 * 1024 + 64 * 1024);
      const digest = crypto.createHash('sha256');
      let received = 0;
      await new Promise<void>((resolve, reject) =>
        connection.reader.subscribe({
          next: (chunk) => {
            received += chunk.length;
            digest.update(chunk);
          },
          complete: resolve,
          error: reject,
        }),
      );
      expect(received).toBe(total);
      expect(digest.digest('hex')).toBe(progress.digest());
    });

    it('echoes 16 MiB through reader.transfer on a TLS server, byte for byte', async () => {
      const { server } = await tlsServer((_address, reader, writer) => reader.transfer(writer));
      const raw = tls.connect({ host: '127.0.0.1', port: server.listeningOn, ...trusted() });
      raw.on('error', () => {});
      await once(raw, 'secureConnect');
      const echoed = collect(raw);
      const progress = pump(raw, 16 * 1024 * 1024);
      const data = await echoed;
      expect(data.length).toBe(16 * 1024 * 1024);
      expect(crypto.createHash('sha256').update(data).digest('hex')).toBe(progress.digest());
      raw.destroy();
    });

    it('writer.error() aborts: the connection is closed at once and the peer sees it end', async () => {
      const { connection, peer } = await pair();
      const peerClosed = once(peer, 'close');
      peer.on('data', () => {});
      connection.writer.write('dropped');
      connection.writer.error(new Error('give up'));
      await lastValueFrom(connection.closed);
      expect(connection.socket.nodeSocket.destroyed).toBe(true);
      await peerClosed;
    });

    it('fails with BufferAgeLimitError against a peer that never reads, closing the connection', async () => {
      const { connection, peer } = await pair({ bufferAgeLimit: 150 });
      backUp(connection.writer, peer);
      const error = await lastValueFrom(connection.writer.closeFinished).catch((e) => e);
      expect(error).toBeInstanceOf(BufferAgeLimitError);
      await lastValueFrom(connection.closed);
      expect(connection.socket.nodeSocket.destroyed).toBe(true);
    });

    it('lines() and readLine() see the same lines however TLS records cut them', async () => {
      const { connection, peer } = await pair();
      const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'y'.repeat(i % 97)}`);
      peer.end(`${lines.join('\n')}\n`);
      expect(await firstValueFrom(connection.reader.readLine())).toBe(lines[0]);
      expect(await lastValueFrom(connection.reader.lines().pipe(take(lines.length), toArray()))).toEqual(
        lines.slice(1),
      );
    });
  });
});
