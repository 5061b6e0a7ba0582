import * as net from 'node:net';
import {
  type Connection,
  type InetAddress,
  listen,
  onFile,
  Server,
  type ServerEvent,
  WhereToListen,
} from 'rx-tcp';
import { firstValueFrom, lastValueFrom, NEVER, type Subscription } from 'rxjs';
import { reusePortSupported } from '../../src/server/listen';
import { once, waitFor } from '../helpers/net';
import { loopback } from '../helpers/servers';

/** Listen on 127.0.0.1 at `port` (0: the OS chooses). */
const onLoopbackPort = (port: number) =>
  WhereToListen.create({
    socketType: 'inet',
    address: { family: 'inet', host: '127.0.0.1', port },
    listeningOn: (bound: InetAddress) => bound.port,
  });

/** Whether this Node, on this system, binds with SO_REUSEPORT: the branch each test takes. */
const supported = reusePortSupported(process.versions.node, process.platform);

const servers: Server<InetAddress, number>[] = [];
const subscriptions: Subscription[] = [];

afterEach(async () => {
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
  for (const server of servers.splice(0)) {
    await lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {});
  }
});

/** Connects to `port` and closes at once; resolves when the connection is established. */
async function knock(port: number): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.destroy();
}

describe('reusePort', () => {
  it('is supported on Linux from Node 22.12 on the 22 line, and from 23.1 on', () => {
    const table: [string, string, boolean][] = [
      ['20.20.2', 'linux', false],
      ['22.11.0', 'linux', false],
      ['22.12.0', 'linux', true],
      ['22.23.5', 'linux', true],
      ['23.0.0', 'linux', false],
      ['23.1.0', 'linux', true],
      ['24.22.3', 'linux', true],
      ['25.0.0', 'linux', true],
      ['24.22.3', 'darwin', false],
      ['24.22.3', 'win32', false],
    ];
    expect(table.map(([version, platform]) => reusePortSupported(version, platform))).toEqual(
      table.map(([, , expected]) => expected),
    );
  });

  it('checks its value at the call, whatever the Node', () => {
    expect(() => Server.create(loopback(), () => NEVER, { reusePort: 'yes' as never })).toThrow(
      new TypeError('Server.create: reusePort must be a boolean, got "yes"'),
    );
    expect(() => listen(onFile('/tmp/rx-tcp-reuse.sock'), { reusePort: true })).toThrow(
      /listen: reusePort is for a TCP port, not the Unix socket/,
    );
    expect(() => listen(loopback(), { reusePort: false })).not.toThrow();
  });

  it(`${supported ? 'binds two servers to one port, and both accept' : 'throws a TypeError naming reusePort at the call'} (Node ${process.versions.node})`, async () => {
    if (!supported) {
      const message = /reusePort needs Linux and Node >= 22\.12 .*got Node /;
      expect(() => Server.create(loopback(), () => NEVER, { reusePort: true })).toThrow(TypeError);
      expect(() => Server.create(loopback(), () => NEVER, { reusePort: true })).toThrow(message);
      expect(() => listen(loopback(), { reusePort: true })).toThrow(TypeError);
      expect(() => listen(loopback(), { reusePort: true })).toThrow(/^listen: reusePort needs/);
      return;
    }
    const handler = () => NEVER;
    const first = await firstValueFrom(Server.create(onLoopbackPort(0), handler, { reusePort: true }));
    servers.push(first);
    const second = await firstValueFrom(
      Server.create(onLoopbackPort(first.listeningOn), handler, { reusePort: true }),
    );
    servers.push(second);
    expect(second.listeningOn).toBe(first.listeningOn);
    const accepted = [0, 0];
    const count = (index: number) => (event: ServerEvent<InetAddress>) => {
      if (event.type === 'accepted') accepted[index]++;
    };
    first.events.subscribe(count(0));
    second.events.subscribe(count(1));
    // The kernel spreads connections by a hash of their addresses: a few dozen reach both.
    for (let i = 0; i < 64 && (accepted[0] === 0 || accepted[1] === 0); i++) {
      await knock(first.listeningOn);
      await waitFor(() => accepted[0] + accepted[1] === i + 1, 5000, 'the connection to be accepted');
    }
    expect(accepted[0]).toBeGreaterThan(0);
    expect(accepted[1]).toBeGreaterThan(0);

    // listen() joins them on the same port.
    const connections: Connection<InetAddress>[] = [];
    let port = 0;
    subscriptions.push(
      listen(onLoopbackPort(first.listeningOn), {
        reusePort: true,
        onListening: (p) => (port = p),
      }).subscribe((connection) => connections.push(connection)),
    );
    await waitFor(() => port > 0, 5000, 'listening');
    expect(port).toBe(first.listeningOn);
    for (let i = 0; i < 64 && connections.length === 0; i++) await knock(port);
    await waitFor(() => connections.length > 0, 5000, 'a connection through listen');
    for (const connection of connections) connection.destroy();
  });
});
