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
import { once, waitFor } from './helpers/net';
import { loopback, tempDir } from './helpers/servers';

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
