import * as tls from 'node:tls';
import { encodeProxyHeader, type InetAddress, Server, type ServerEvent, type ServerOptions } from 'rx-tcp';
import { connectionPair } from 'rx-tcp/testing';
import {
  defer,
  firstValueFrom,
  lastValueFrom,
  map,
  NEVER,
  of,
  ReplaySubject,
  Subject,
  take,
  throwError,
  timer,
} from 'rxjs';
import { ConnectionPool } from '../../src/client/connection-pool';
import { type Certificates, makeCertificates } from '../helpers/certificates';
import { testScheduler } from '../helpers/marbles';
import { once, waitFor, within } from '../helpers/net';
import { loopback } from '../helpers/servers';

import net = require('node:net');

// A hostile review of the PROXY protocol accept path and the ConnectionPool (issues 20 and 21).
// The first two tests failed on c9a1cbb (a peer stalled in its TLS handshake after a good header
// outlived close()), as did the `rejected` event without an address; the rest cover paths no
// other spec tried, and passed.

type Inet = Server<InetAddress, number>;
const CLIENT: InetAddress = { family: 'inet', host: '203.0.113.7', port: 51234 };
const FRONT: InetAddress = { family: 'inet', host: '192.0.2.1', port: 443 };
const v1 = () => encodeProxyHeader(1, { source: CLIENT, destination: FRONT, tlvs: new Map() });
const v2 = () => encodeProxyHeader(2, { source: CLIENT, destination: FRONT, tlvs: new Map() });

let certs: Certificates;
const servers: Inet[] = [];
const sockets: net.Socket[] = [];

beforeAll(() => {
  certs = makeCertificates();
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    await lastValueFrom(server.close({ closeExistingConnections: true, forceCloseAfter: 0 })).catch(() => {});
  }
});

async function start(
  handler: Parameters<typeof Server.create<InetAddress, number>>[1],
  options: ServerOptions<InetAddress> = {},
) {
  const server = await firstValueFrom(
    Server.create(loopback(), handler, { proxyProtocol: 'any', ...options }),
  );
  servers.push(server);
  const events: ServerEvent<InetAddress>[] = [];
  server.events.subscribe((event) => events.push(event));
  return { server, events };
}

function tcp(port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  sockets.push(socket);
  return socket;
}

/** Resolves once `socket` is closed (at once if it is already). */
const gone = (socket: net.Socket) =>
  new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));

describe('review 20-21: PROXY protocol accept', () => {
  it.each([true, false])(
    'TLS after a header (closeExistingConnections %s): a peer whose header is read but whose handshake stalls is closed by close()',
    async (closeExistingConnections) => {
      const handled: unknown[] = [];
      const { server } = await start(
        () => {
          handled.push(1);
          return NEVER;
        },
        { tls: certs.server },
      );
      const stalled = tcp(server.listeningOn);
      const midHeader = tcp(server.listeningOn);
      await Promise.all([once(stalled, 'connect'), once(midHeader, 'connect')]);
      const accepted: net.Socket[] = [];
      server.listeningSocket.on('connection', (s: net.Socket) => accepted.push(s));
      stalled.write(v2()); // a whole header, then no ClientHello
      midHeader.write(v2().subarray(0, 5)); // half a header
      await new Promise((r) => setTimeout(r, 100));
      await within(
        lastValueFrom(server.close({ closeExistingConnections }), { defaultValue: undefined }),
        2000,
        'close',
      );
      // The one mid-header is closed at once, as the spec says; the one in its handshake should be too.
      await within(gone(midHeader), 2000, 'mid-header closed');
      await within(gone(stalled), 2000, 'stalled handshake closed');
      expect(handled).toEqual([]);
    },
  );

  it('TLS after a header: a connection reset while it waits for a slot does not crash the process', async () => {
    const gate = new Subject<void>();
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const { server, events } = await start(
        (_a, reader, writer) =>
          defer(async () => {
            const line = String(await firstValueFrom(reader.readLine()));
            writer.writeLine(`${line} served`);
            if (line === 'first') await firstValueFrom(gate);
          }),
        { tls: certs.server, maxConnections: 1 },
      );
      const client = async (line: string) => {
        const raw = tcp(server.listeningOn);
        await once(raw, 'connect');
        raw.write(v2());
        const secure = tls.connect({ socket: raw, servername: 'localhost', ca: certs.ca });
        secure.on('error', () => {});
        await once(secure, 'secureConnect');
        secure.write(`${line}\n`);
        return { raw, secure };
      };
      const first = await client('first');
      await once(first.secure, 'data');
      const second = await client('second');
      await waitFor(() => events.some((e) => e.type === 'limitReached'), 5000, 'limitReached');
      second.raw.resetAndDestroy();
      // Let the server's TLS socket read the reset.
      await new Promise((r) => setTimeout(r, 200));
      gate.next();
      await waitFor(
        () => events.filter((e) => e.type === 'connectionClosed').length === 2,
        5000,
        'both closed',
      );
      expect(uncaught).toEqual([]);
      expect(server.isClosed()).toBe(false);
      server.invariant();
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('names the balancer in the rejected event of a connection refused because maxPendingConnections is reached', async () => {
    const { server, events } = await start(() => NEVER, { maxPendingConnections: 1 });
    const holder = tcp(server.listeningOn);
    await once(holder, 'connect');
    holder.write(v1().subarray(0, 3));
    await new Promise((r) => setTimeout(r, 50));
    const refused = tcp(server.listeningOn);
    await once(refused, 'connect');
    const port = refused.localPort;
    await gone(refused);
    const rejected = events.filter((e) => e.type === 'rejected');
    expect(rejected).toHaveLength(1);
    // The header-refused case names the balancer (proxy-protocol.spec.ts); this one loses it,
    // because the socket is destroyed before the event is emitted.
    expect(rejected[0].address).toEqual({ family: 'inet', host: '127.0.0.1', port });
  });

  it('staggered slow headers share one timer: each is refused at its own deadline, the trickled ones served', async () => {
    const served: number[] = [];
    const { server, events } = await start(
      (address) => {
        served.push(address.port);
        return NEVER;
      },
      { proxyHeaderTimeout: 400, maxPendingConnections: 16 },
    );
    const starts: number[] = [];
    const rejectedAt: number[] = [];
    server.events.subscribe((e) => {
      if (e.type === 'rejected') rejectedAt.push(Date.now());
    });
    const jobs: Promise<void>[] = [];
    for (let k = 0; k < 6; k++) {
      jobs.push(
        (async () => {
          await new Promise((r) => setTimeout(r, k * 60));
          const socket = tcp(server.listeningOn);
          await once(socket, 'connect');
          starts[k] = Date.now();
          const header = encodeProxyHeader(2, {
            source: { ...CLIENT, port: 1000 + k },
            destination: FRONT,
            tlvs: new Map(),
          });
          // Even: the whole header a byte at a time over ~250 ms. Odd: all but its last byte.
          const n = k % 2 === 0 ? header.length : header.length - 1;
          for (let i = 0; i < n; i++) {
            socket.write(header.subarray(i, i + 1));
            await new Promise((r) => setTimeout(r, 250 / header.length));
          }
          if (k % 2 === 1) await gone(socket);
        })(),
      );
    }
    await within(Promise.all(jobs), 5000, 'the clients');
    expect(served.sort()).toEqual([1000, 1002, 1004]);
    expect(rejectedAt).toHaveLength(3);
    const deadlines = [1, 3, 5].map((k) => starts[k] + 400);
    rejectedAt.forEach((at, i) => {
      expect(at).toBeGreaterThanOrEqual(deadlines[i] - 20);
      expect(at).toBeLessThan(deadlines[i] + 150);
    });
    expect(events.filter((e) => e.type === 'rejected').every((e) => e.error instanceof Error)).toBe(true);
    server.invariant();
  });

  it.each(['end', 'reset'] as const)(
    'a %s at every byte of a v1 and a v2 header: rejected, nothing kept',
    async (how) => {
      const handled: unknown[] = [];
      const { server, events } = await start(
        () => {
          handled.push(1);
          return NEVER;
        },
        { maxPendingConnections: 4 },
      );
      const headers = [
        v1(),
        encodeProxyHeader(2, {
          source: CLIENT,
          destination: FRONT,
          tlvs: new Map([[0x01, Buffer.from('h2')]]),
        }),
      ];
      let expected = 0;
      for (const header of headers) {
        for (let i = 0; i < header.length; i++) {
          const socket = tcp(server.listeningOn);
          await once(socket, 'connect');
          if (i > 0) await new Promise<void>((r) => socket.write(header.subarray(0, i), () => r()));
          if (how === 'end') socket.end();
          else socket.resetAndDestroy();
          expected++;
          await waitFor(
            () => events.filter((e) => e.type === 'rejected').length === expected,
            5000,
            `rejected #${expected}`,
          );
          server.invariant();
        }
      }
      expect(handled).toEqual([]);
      expect(events.every((e) => e.type === 'rejected')).toBe(true);
      expect(server.numConnections).toBe(0);
      expect(server.isClosed()).toBe(false);
    },
  );

  it('close({ drainTimeout }) while headers are read: they are closed and closeFinished completes', async () => {
    const { server } = await start(() => NEVER, { maxPendingConnections: 8 });
    const clients = Array.from({ length: 5 }, () => tcp(server.listeningOn));
    await Promise.all(clients.map((c) => once(c, 'connect')));
    clients.forEach((c, i) => {
      c.write(v1().subarray(0, i + 1));
    });
    await new Promise((r) => setTimeout(r, 50));
    await within(
      lastValueFrom(server.close({ drainTimeout: 60_000 }), { defaultValue: undefined }),
      2000,
      'close',
    );
    await within(
      Promise.all(clients.map((c) => (c.destroyed ? undefined : once(c, 'close')))),
      2000,
      'clients closed',
    );
    server.invariant();
  });

  it('a queued connection sending a header then 16 MiB holds a bounded buffer at the server', async () => {
    const gate = new ReplaySubject<void>(1);
    let bytes = 0;
    const { server, events } = await start(
      (_a, reader) =>
        defer(async () => {
          await firstValueFrom(gate);
          await new Promise<void>((done) =>
            reader.subscribe({ next: (c: Uint8Array) => (bytes += c.length), complete: done, error: done }),
          );
        }),
      { maxConnections: 1 },
    );
    const accepted: net.Socket[] = [];
    server.listeningSocket.on('connection', (s: net.Socket) => accepted.push(s));
    const first = tcp(server.listeningOn);
    first.write(v1());
    await waitFor(() => server.numConnections === 1, 5000, 'first served');
    const second = tcp(server.listeningOn);
    const big = Buffer.alloc(16 * 1024 * 1024, 7);
    second.write(Buffer.concat([v1(), big]));
    await waitFor(() => events.some((e) => e.type === 'limitReached'), 5000, 'limitReached');
    await new Promise((r) => setTimeout(r, 300));
    expect(accepted[1].readableLength).toBeLessThan(1024 * 1024);
    second.end();
    gate.next();
    first.end();
    await waitFor(() => bytes === big.length, 10_000, 'all bytes');
  });
});

/** A small deterministic PRNG. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

describe('review 20-21: ConnectionPool under random stress (virtual time)', () => {
  it('every use settles or is unsubscribed, nothing is kept, close settles, invariant holds (800 seeds)', () => {
    let quirks = 0;
    for (let seed = 1; seed <= 800; seed++) {
      const r = rng(seed);
      const scheduler = testScheduler();
      const problems: string[] = [];
      try {
        scheduler.run(({ cold }) => {
          const peers: { close(): unknown }[] = [];
          let made = 0;
          const factory = () =>
            timer(r(3)).pipe(
              map(() => {
                made++;
                if (r(4) === 0) throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
                const [client, server] = connectionPair<import('rx-tcp').InetAddress>();
                peers.push(server);
                if (r(6) === 0) scheduler.schedule(() => server.destroy(), r(20));
                return client;
              }),
            );
          const pool = ConnectionPool.create(factory, {
            maxConnections: 1 + r(2),
            acquireTimeout: 3 + r(10),
            idleTimeout: 5 + r(10),
            maxWaiting: 1 + r(4),
          });
          const closeFrom = r(4); // 0: timer, 1: inside f, 2: events subscriber, 3: timer with drain
          let closeAsked = false;
          const closeNow = () => {
            if (closeAsked) return;
            closeAsked = true;
            pool.close(closeFrom === 3 ? { drainTimeout: r(5) } : {}).subscribe({ error: () => {} });
          };
          pool.events.subscribe({
            next: (event) => {
              try {
                pool.invariant();
              } catch (e) {
                problems.push(`seed ${seed}: ${(e as Error).message} at ${event.type}`);
              }
              if (closeFrom === 2 && r(15) === 0) closeNow();
            },
            error: () => {},
          });
          const uses = 8 + r(8);
          const settled: boolean[] = [];
          const unsubscribed: boolean[] = [];
          const subs: import('rxjs').Subscription[] = [];
          for (let i = 0; i < uses; i++) {
            settled.push(false);
            unsubscribed.push(false);
            const at = r(40);
            const kind = r(5);
            const stopAt = r(3) === 0 ? r(20) : -1;
            scheduler.schedule(() => {
              const used = pool.use((): import('rxjs').Observable<unknown> => {
                if (closeFrom === 1 && r(6) === 0) closeNow();
                if (kind === 0) return cold('--a|');
                if (kind === 1) return cold('-#', undefined, new Error('f failed'));
                if (kind === 2) return of(1);
                if (kind === 3) return NEVER;
                return throwError(() => new Error('thrown'));
              });
              const sub = (r(3) === 0 ? used.pipe(take(1)) : used).subscribe({
                complete: () => (settled[i] = true),
                error: () => (settled[i] = true),
              });
              subs[i] = sub;
              if (stopAt >= 0)
                scheduler.schedule(() => {
                  unsubscribed[i] = !sub.closed;
                  sub.unsubscribe();
                }, stopAt);
            }, at);
          }
          if (closeFrom === 0 || closeFrom === 3) scheduler.schedule(closeNow, 30 + r(30));
          let finished = false;
          // Everything NEVER must be cut off: close with a drain at the end, then look.
          scheduler.schedule(() => {
            // A use of NEVER lasts until unsubscribed when close() had no drainTimeout.
            subs.forEach((sub, i) => {
              if (!sub.closed) {
                unsubscribed[i] = true;
                sub.unsubscribe();
              }
            });
            pool.close({ drainTimeout: 10 });
            closeAsked = true;
            pool.close().subscribe({ complete: () => (finished = true), error: () => (finished = true) });
          }, 200);
          scheduler.schedule(() => {
            try {
              pool.invariant();
            } catch (e) {
              problems.push(`seed ${seed}: ${(e as Error).message} at the end`);
            }
            const { open, idle, leased, waiting } = pool.stats;
            if (open + idle + leased + waiting !== 0)
              problems.push(`seed ${seed}: stats ${JSON.stringify(pool.stats)}`);
            if (!finished) problems.push(`seed ${seed}: close did not settle`);
            for (let i = 0; i < uses; i++)
              if (!settled[i] && !unsubscribed[i]) problems.push(`seed ${seed}: use ${i} never settled`);
            void made;
            void peers;
          }, 400);
        });
      } catch (e) {
        // RxJS's TestScheduler (run mode) throws this when an asap action of connectionPair and an
        // interval are cleared across each other: a quirk of the harness, not of the pool.
        if ((e as Error).message === 'Expected a due immediate or interval') {
          quirks++;
          continue;
        }
        throw e;
      }
      expect(problems).toEqual([]);
    }
    expect(quirks).toBeLessThan(100);
  });
});
