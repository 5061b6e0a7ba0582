import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BufferAgeLimitError,
  type InetAddress,
  onFile,
  Server,
  type ServerEvent,
  toFile,
  withConnection,
} from 'rx-tcp';
import { fixedSize, lengthPrefixed, lines } from 'rx-tcp/operators';
import { firstValueFrom, from, lastValueFrom } from 'rxjs';
import { once, waitFor } from '../helpers/net';
import { loopback, tempDir } from '../helpers/servers';

import net = require('node:net');

describe('security', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => {
    jest.restoreAllMocks();
    tmp.remove();
  });

  it('never unlinks a Unix socket another process listens on', async () => {
    const file = path.join(tmp.dir, 'owned.sock');
    const owner = spawn(process.execPath, [
      '-e',
      `require('net').createServer((s) => s.on('error', () => {}).end('owner\\n')).listen(${JSON.stringify(file)}, () => console.log('up'))`,
    ]);
    try {
      await once(owner.stdout!, 'data');
      await expect(firstValueFrom(Server.create(onFile(file), () => []))).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      expect(fs.lstatSync(file).isSocket()).toBe(true);
      const still = await lastValueFrom(withConnection(toFile(file), ({ reader }) => reader.readLine()));
      expect(still).toBe('owner');
    } finally {
      const exited = once(owner, 'exit');
      owner.kill();
      await exited;
    }
  });

  it('takes a stale socket over only after a connect probe failed on it', async () => {
    const file = path.join(tmp.dir, 'stale.sock');
    const dead = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await once(dead, 'exit');
    const order: string[] = [];
    const connect = net.connect;
    jest.spyOn(net, 'connect').mockImplementation(((options: net.NetConnectOpts) => {
      const probe = connect(options);
      probe.once('error', (e: NodeJS.ErrnoException) => order.push(`probe ${e.code}`));
      return probe;
    }) as never);
    const rm = fs.promises.rm;
    jest.spyOn(fs.promises, 'rm').mockImplementation(async (...args) => {
      order.push('remove');
      return rm(...args);
    });
    const server = await firstValueFrom(Server.create(onFile(file), () => []));
    expect(order).toEqual(['probe ECONNREFUSED', 'remove']);
    await lastValueFrom(server.close());
  });

  it('an error or event quotes at most the first 32 bytes of what was written', async () => {
    // Every byte written differs from its neighbours, so any longer quote would show.
    const payload = Buffer.from(Array.from({ length: 4 * 1024 * 1024 }, (_, i) => 33 + ((i * 7919) % 90)));
    const events: ServerEvent<InetAddress>[] = [];
    const server = await firstValueFrom(
      Server.create(
        loopback(),
        (_address, _reader, writer) => {
          for (let i = 0; i < 8; i++) writer.write(payload);
          return [];
        },
        { bufferAgeLimit: 100 },
      ),
    );
    server.events.subscribe((e) => events.push(e));
    const peer = net.connect({ host: '127.0.0.1', port: server.listeningOn });
    peer.on('error', () => {});
    peer.pause();
    await waitFor(() => events.some((e) => e.type === 'connectionClosed'), 10_000, 'the writer to fail');
    const error = events.find((e) => e.type === 'connectionClosed')!.error as BufferAgeLimitError;
    expect(error).toBeInstanceOf(BufferAgeLimitError);
    expect(error.firstBytes.length).toBeLessThanOrEqual(32);
    const quoted = /starting (".*")\)$/.exec(error.message)![1];
    expect(JSON.parse(quoted).length).toBeLessThanOrEqual(32);
    expect(JSON.stringify(events).length).toBeLessThan(2000);
    peer.destroy();
    await lastValueFrom(server.close({ closeExistingConnections: true }));
  });

  it('framing errors say how long, never what', async () => {
    const secret = Buffer.from(`SECRET-${'s'.repeat(200)}`);
    const failures = await Promise.all([
      lastValueFrom(from([secret]).pipe(lines({ maxLineLength: 16 }))).catch((e) => e),
      lastValueFrom(
        from([Buffer.concat([Buffer.from([0, 0, 1, 0]), secret])]).pipe(lengthPrefixed({ headerBytes: 4 })),
      ).catch((e) => e),
      lastValueFrom(from([secret.subarray(0, 10)]).pipe(fixedSize(64))).catch((e) => e),
    ]);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(Error);
      expect(failure.message).not.toContain('SECRET');
      expect(failure.message).not.toContain('sss');
    }
  });
});
