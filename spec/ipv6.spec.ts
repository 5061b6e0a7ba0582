import * as net from 'node:net';
import * as os from 'node:os';
import type * as tls from 'node:tls';
import {
  addressToString,
  ConnectInterruptedError,
  type Connection,
  connect,
  type InetAddress,
  listen,
  onPortChosenByOs,
  Server,
  type ServerEvent,
  toHostAndPort,
  toInetAddress,
  WhereToListen,
  withConnection,
} from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, of, type Subscription, toArray } from 'rxjs';
import { makeCertificates } from './helpers/certificates';
import { waitFor } from './helpers/net';

/** Whether this machine has an IPv6 loopback: without one, these tests cannot run at all. */
const hasIPv6Loopback = Object.values(os.networkInterfaces())
  .flat()
  .some((info) => info?.address === '::1');
if (!hasIPv6Loopback) {
  console.warn('spec/ipv6.spec.ts: skipped, this machine has no IPv6 loopback (::1) interface');
}
const describeIPv6 = hasIPv6Loopback ? describe : describe.skip;

/** Listen on ::1 only, on a port the OS chooses. */
const ipv6Loopback = () =>
  WhereToListen.create({
    socketType: 'inet',
    address: { family: 'inet', host: '::1', port: 0 },
    listeningOn: (bound: InetAddress) => bound.port,
  });

/** A port on ::1 that nothing listens on (bound by the OS, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '::1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Connects, sends one line, and returns the one line the server answers. */
function ask(host: string, port: number, line: string): Promise<string | symbol> {
  return lastValueFrom(
    withConnection(toHostAndPort(host, port), ({ reader, writer }) => {
      writer.writeLine(line);
      return reader.readLine();
    }),
  );
}

/** Answers each line with the address the server sees the client at, then waits for the next. */
const whoAmI = (address: InetAddress, reader: Connection['reader'], writer: Connection['writer']) =>
  defer(async () => {
    await firstValueFrom(reader.readLine());
    writer.writeLine(addressToString({ ...address, port: 0 }));
  });

describeIPv6('IPv6', () => {
  const servers: Server<InetAddress, number>[] = [];
  let subscription: Subscription | undefined;
  afterEach(async () => {
    subscription?.unsubscribe();
    subscription = undefined;
    for (const server of servers.splice(0)) {
      await lastValueFrom(server.close({ closeExistingConnections: true })).catch(() => {});
    }
  });

  async function start(where: WhereToListen<InetAddress, number>) {
    const server = await firstValueFrom(Server.create(where, whoAmI));
    servers.push(server);
    const events: ServerEvent<InetAddress>[] = [];
    server.events.subscribe((event) => events.push(event));
    return { server, events };
  }

  it('prints IPv6 addresses in brackets, in addresses, WhereToConnect and WhereToListen', () => {
    expect(addressToString({ family: 'inet', host: '::1', port: 8080 })).toBe('[::1]:8080');
    expect(toHostAndPort('::1', 8080).toString()).toBe('[::1]:8080');
    expect(toInetAddress({ family: 'inet', host: 'fe80::1', port: 1 }).toString()).toBe('[fe80::1]:1');
    expect(String(ipv6Loopback())).toBe('(inet [::1]:0)');
    expect(String(onPortChosenByOs)).toBe('(inet [::]:0)');
    expect(JSON.stringify(toHostAndPort('::1', 80))).toBe('"[::1]:80"');
  });

  it('connects to ::1 with toHostAndPort and toInetAddress, and reports both ends as IPv6', async () => {
    const { server } = await start(ipv6Loopback());
    const port = server.listeningOn;
    expect(server.listeningSocket.address()).toMatchObject({ address: '::1', family: 'IPv6', port });
    expect(await ask('::1', port, 'hi')).toBe('[::1]:0');

    const connection = await firstValueFrom(connect(toInetAddress({ family: 'inet', host: '::1', port })));
    expect(connection.remoteAddress).toEqual({ family: 'inet', host: '::1', port });
    expect(connection.localAddress.host).toBe('::1');
    expect(connection.localAddress.port).toBeGreaterThan(0);
    connection.writer.writeLine('again');
    expect(await firstValueFrom(connection.reader.readLine())).toBe('[::1]:0');
    await lastValueFrom(connection.close());
  });

  it('binds the local side to ::1 with viaLocalInterface', async () => {
    const { server } = await start(ipv6Loopback());
    const local = await freePort();
    const connection = await firstValueFrom(
      connect(toHostAndPort('::1', server.listeningOn, { viaLocalInterface: '::1', viaLocalPort: local })),
    );
    expect(connection.localAddress).toEqual({ family: 'inet', host: '::1', port: local });
    await lastValueFrom(connection.close());
  });

  it('names the IPv6 address in brackets in connection errors', async () => {
    const error = await firstValueFrom(connect(toHostAndPort('::1', 9), { interrupt: of(0) })).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ConnectInterruptedError);
    expect(error.message).toBe('connection attempt aborted [::1]:9');
    const port = await freePort();
    const refused = await firstValueFrom(connect(toHostAndPort('::1', port))).catch((e) => e);
    expect(refused).toMatchObject({ code: 'ECONNREFUSED', address: '::1', port });
  });

  it('onPortChosenByOs is dual-stack: IPv4 and IPv6 clients on one port, IPv4 never as ::ffff:', async () => {
    const { server, events } = await start(onPortChosenByOs);
    const port = server.listeningOn;
    expect(server.listeningSocket.address()).toMatchObject({ address: '::', port });
    expect(await ask('127.0.0.1', port, 'v4')).toBe('127.0.0.1:0');
    expect(await ask('::1', port, 'v6')).toBe('[::1]:0');
    const accepted = events.filter((e) => e.type === 'accepted').map((e) => e.address?.host);
    expect(accepted).toEqual(['127.0.0.1', '::1']);
  });

  it('listen on both stacks reports each connection’s two ends in its own family', async () => {
    const connections: Connection<InetAddress>[] = [];
    let port = 0;
    subscription = listen(onPortChosenByOs, { onListening: (p) => (port = p) }).subscribe((c) => {
      connections.push(c);
      c.reader.transfer(c.writer).subscribe({ complete: () => c.close().subscribe() });
    });
    await waitFor(() => port > 0, 5000, 'listening');
    for (const host of ['127.0.0.1', '::1']) {
      const client = await firstValueFrom(connect(toHostAndPort(host, port)));
      await waitFor(() => connections.length === (host === '::1' ? 2 : 1), 5000, `the ${host} connection`);
      const server = connections[connections.length - 1];
      expect(server.localAddress).toEqual({ family: 'inet', host, port });
      expect(server.remoteAddress).toEqual(client.localAddress);
      expect(client.remoteAddress).toEqual({ family: 'inet', host, port });
      await lastValueFrom(client.close());
    }
  });

  it('speaks TLS over IPv6, checking the certificate against the IP address ::1', async () => {
    const certs = makeCertificates();
    const server = await firstValueFrom(
      Server.create(ipv6Loopback(), whoAmI, { tls: { key: certs.server.key, cert: certs.server.cert } }),
    );
    servers.push(server);
    const seen: (string | false)[] = [];
    const answer = await lastValueFrom(
      withConnection(
        toHostAndPort('::1', server.listeningOn),
        ({ socket, reader, writer }) => {
          seen.push((socket.nodeSocket as tls.TLSSocket).authorized ? 'authorized' : false);
          writer.writeLine('hello');
          return reader.lines().pipe(toArray());
        },
        { tls: { ca: certs.ca } },
      ),
    );
    expect(answer).toEqual(['[::1]:0']);
    expect(seen).toEqual(['authorized']);
  });
});
