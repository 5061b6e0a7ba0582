import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  addressToString,
  type Connection,
  connect,
  EOF,
  type InetAddress,
  onPortChosenByOs,
  Server,
  type ServerEvent,
  toHostAndPort,
} from 'rx-tcp';
import { firstValueFrom, lastValueFrom, tap } from 'rxjs';
import { closedPort, waitFor } from '../helpers/net';
import { tempDir } from '../helpers/servers';

/**
 * rx-tcp servers behind a real HAProxy (Debian's package; `.ci/run` installs it): TCP mode,
 * `send-proxy` and `send-proxy-v2`, health checks, and a backend drained for a rolling restart.
 */
const hasHaproxy = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v haproxy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasHaproxy) {
  console.warn(
    `haproxy.spec.ts: haproxy not found, ${process.env.CI ? 'failing' : 'skipping'} its tests (.ci/run installs it)`,
  );
}
const test = hasHaproxy || process.env.CI ? it : it.skip;

/** A backend: an rx-tcp server that first says who it is and whom it sees, then echoes lines. */
interface Backend {
  name: string;
  server: Server<InetAddress, number>;
  /** Connections whose header was a health check's (`connection.proxy === null`). */
  checks: number;
  /** Connections handled, health checks included. */
  handled: number;
  events: ServerEvent<InetAddress>[];
}

async function backend(name: string, proxyProtocol: 'v1' | 'v2'): Promise<Backend> {
  const self: Backend = { name, server: undefined as never, checks: 0, handled: 0, events: [] };
  self.server = await firstValueFrom(
    Server.create(
      onPortChosenByOs,
      (address, reader, writer, connection) => {
        self.handled++;
        if (connection.proxy === null) self.checks++;
        writer.writeLine(
          `${name} ${connection.proxy === null ? 'local' : 'proxied'} ${addressToString(address)}`,
        );
        return reader.lines().pipe(tap((line) => writer.writeLine(line)));
      },
      { proxyProtocol, proxyHeaderTimeout: 5_000 },
    ),
  );
  self.server.events.subscribe((event) => self.events.push(event));
  return self;
}

/** Events that would mean a header or a handler went wrong. */
function failures(b: Backend): ServerEvent<InetAddress>[] {
  return b.events.filter((e) => e.type === 'rejected' || e.type === 'handlerError');
}

interface Haproxy {
  /** Frontends on 127.0.0.1 and ::1 to the v2 backends, and on 127.0.0.1 to the v1 backend. */
  v4: number;
  v6: number;
  v1: number;
  /** `show stat`'s status of a server of the v2 backend: `UP`, `DOWN`, … */
  status(server: string): Promise<string>;
  stop(): Promise<void>;
}

/** Starts HAProxy on ports the OS just released; bounded retries if one was taken meanwhile. */
async function haproxy(dir: string, v2: Backend[], v1: Backend): Promise<Haproxy> {
  const admin = path.join(dir, 'admin.sock');
  for (let attempt = 1; ; attempt++) {
    const [v4, v6, v1Port] = [await closedPort(), await closedPort(), await closedPort()];
    const config = [
      'global',
      '  maxconn 200',
      `  stats socket ${admin} mode 600 level admin`,
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 20s',
      '  timeout server 20s',
      // A connect refused by a drained backend is tried on another server, not reported to the client.
      '  retries 3',
      '  option redispatch',
      'frontend v2',
      `  bind 127.0.0.1:${v4}`,
      `  bind [::1]:${v6}`,
      '  default_backend v2',
      'frontend v1',
      `  bind 127.0.0.1:${v1Port}`,
      '  default_backend v1',
      'backend v2',
      '  balance roundrobin',
      ...v2.map(
        (b) =>
          `  server ${b.name} 127.0.0.1:${b.server.listeningOn} send-proxy-v2 check check-send-proxy inter 100 fall 1 rise 1`,
      ),
      'backend v1',
      `  server ${v1.name} 127.0.0.1:${v1.server.listeningOn} send-proxy check check-send-proxy inter 100`,
      '',
    ].join('\n');
    const file = path.join(dir, 'haproxy.cfg');
    fs.writeFileSync(file, config);
    const child: ChildProcess = spawn('haproxy', ['-f', file, '-db'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let exited = false;
    let errors = '';
    child.stderr?.on('data', (d) => {
      errors += d;
    });
    child.once('exit', () => {
      exited = true;
    });
    // Polled, bounded: HAProxy says nothing when it is ready.
    const listening = async (): Promise<boolean> => {
      for (let i = 0; i < 250 && !exited; i++) {
        if (await accepts(v4)) return true;
        await pause(20);
      }
      return false;
    };
    if (await listening()) {
      const stop = async () => {
        if (!exited) {
          const gone = new Promise((resolve) => child.once('exit', resolve));
          child.kill();
          await gone;
        }
      };
      return { v4, v6, v1: v1Port, status: (server) => serverStatus(admin, 'v2', server), stop };
    }
    child.kill();
    if (attempt === 5) throw new Error(`haproxy did not start: ${errors}`);
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether something accepts on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A server's `status` column in HAProxy's `show stat`, through its admin socket. */
function serverStatus(admin: string, proxy: string, server: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(admin);
    let out = '';
    socket.on('data', (d) => {
      out += d;
    });
    socket.once('error', reject);
    socket.once('end', () => {
      const [header, ...rows] = out.trim().split('\n');
      const columns = header.replace(/^# /, '').split(',');
      const row = rows.map((r) => r.split(',')).find((r) => r[0] === proxy && r[1] === server);
      resolve(row?.[columns.indexOf('status')] ?? 'absent');
    });
    socket.end('show stat\n');
  });
}

/** Connects through HAProxy; the first line is the backend's greeting. */
async function client(host: string, port: number): Promise<{ connection: Connection; greeting: string }> {
  const connection = await firstValueFrom(connect(toHostAndPort(host, port)));
  const greeting = await firstValueFrom(connection.reader.readLine());
  if (greeting === EOF) throw new Error('closed before the greeting');
  return { connection, greeting };
}

async function echo(connection: Connection, line: string): Promise<string | EOF> {
  connection.writer.writeLine(line);
  return firstValueFrom(connection.reader.readLine());
}

describe('rx-tcp servers behind a real HAProxy', () => {
  const tmp = tempDir();
  let a: Backend;
  let b: Backend;
  let v1: Backend;
  let proxy: Haproxy;

  beforeAll(async () => {
    if (!hasHaproxy) return;
    [a, b, v1] = [await backend('a', 'v2'), await backend('b', 'v2'), await backend('c', 'v1')];
    proxy = await haproxy(tmp.dir, [a, b], v1);
    // With send-proxy-v2 a check says LOCAL; with send-proxy it names its own addresses.
    await waitFor(() => a.checks > 0 && b.checks > 0 && v1.handled > 0, 10_000, 'health checks');
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const backend of [a, b, v1]) {
      if (backend !== undefined)
        await lastValueFrom(backend.server.close({ closeExistingConnections: true }));
    }
    tmp.remove();
  });

  test('the handler sees the real client address, over IPv4 and IPv6, with send-proxy-v2 and send-proxy', async () => {
    if (!hasHaproxy) throw new Error('haproxy is needed in CI: install it');
    for (const [host, port, names] of [
      ['127.0.0.1', proxy.v4, ['a', 'b']],
      ['::1', proxy.v6, ['a', 'b']],
      ['127.0.0.1', proxy.v1, ['c']],
    ] as const) {
      const { connection, greeting } = await client(host, port);
      const [name, kind, seen] = greeting.split(' ');
      expect(names).toContain(name);
      expect(kind).toBe('proxied');
      // What the client's own socket says its address is: what the backend saw through HAProxy.
      const local = connection.localAddress;
      expect(seen).toBe(addressToString(local));
      expect(await echo(connection, `hello from ${host}`)).toBe(`hello from ${host}`);
      await lastValueFrom(connection.close(), { defaultValue: undefined });
    }
    for (const backend of [a, b, v1]) expect(failures(backend)).toEqual([]);
  });

  test('health checks (LOCAL headers, and v1 headers of their own) are not errors', async () => {
    if (!hasHaproxy) throw new Error('haproxy is needed in CI: install it');
    const before = a.checks + b.checks;
    await waitFor(() => a.checks + b.checks >= before + 4, 10_000, 'more health checks');
    expect(await proxy.status('a')).toBe('UP');
    expect(await proxy.status('b')).toBe('UP');
    for (const backend of [a, b, v1]) expect(failures(backend)).toEqual([]);
    for (const backend of [a, b, v1]) backend.server.invariant();
  });

  test('a backend drained with close({ drainTimeout }) is marked down, its clients finish, new ones go to the other', async () => {
    if (!hasHaproxy) throw new Error('haproxy is needed in CI: install it');
    // A client held on `a`: round robin hands out a and b in turn.
    const held: Awaited<ReturnType<typeof client>>[] = [];
    for (let i = 0; i < 4 && !held.some((c) => c.greeting.startsWith('a ')); i++)
      held.push(await client('127.0.0.1', proxy.v4));
    const onA = held.find((c) => c.greeting.startsWith('a '));
    expect(onA).toBeDefined();
    for (const other of held)
      if (other !== onA) await lastValueFrom(other.connection.close(), { defaultValue: undefined });

    const drained = lastValueFrom(a.server.close({ drainTimeout: 15_000 }), { defaultValue: undefined });
    await waitFor(() => a.server.isClosed(), 5_000, 'a stops accepting');
    // HAProxy's checks run every 100 ms; one failed check marks the server down (`fall 1`).
    for (let i = 0; i < 200 && (await proxy.status('a')) === 'UP'; i++) await pause(50);
    expect(await proxy.status('a')).toMatch(/^DOWN/);

    // Every new client is served, by b, with no error.
    const greetings: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { connection, greeting } = await client('127.0.0.1', proxy.v4);
      greetings.push(greeting.split(' ')[0]);
      expect(await echo(connection, `client ${i}`)).toBe(`client ${i}`);
      await lastValueFrom(connection.close(), { defaultValue: undefined });
    }
    expect(new Set(greetings)).toEqual(new Set(['b']));

    // The connection running on `a` goes on until its client is done; then the drain completes.
    expect(await echo(onA!.connection, 'still here')).toBe('still here');
    await lastValueFrom(onA!.connection.close(), { defaultValue: undefined });
    await drained;
    for (const backend of [a, b, v1]) expect(failures(backend)).toEqual([]);
  });
});
