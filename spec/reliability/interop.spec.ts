import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { type Address, onFile, Server, toHostAndPort, type WhereToListen, withConnection } from 'rx-tcp';
import { firstValueFrom, lastValueFrom, tap } from 'rxjs';
import { pipeline } from '../../examples/redis-client';
import { closedPort, waitFor } from '../helpers/net';
import { loopback, tempDir } from '../helpers/servers';

/** Whether a program is installed; tests of an absent peer are skipped, and say so. */
function installed(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(`interop: ${program} is not installed, its tests are skipped (.ci/run installs it)`);
    return false;
  }
}

/** Runs `program args` with `input` on its stdin; resolves with its stdout once it exits. */
function run(program: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill(), 10_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(new Error(`${program} exited with ${code}: ${Buffer.concat(err)}`));
    });
    child.stdin.end(input);
  });
}

/** An rx-tcp server that answers every line upper-cased, and closes at the client's FIN. */
function upperCase<A extends Address, L>(where: WhereToListen<A, L>): Promise<Server<A, L>> {
  return firstValueFrom(
    Server.create(where, (_address, reader, writer) =>
      reader.lines().pipe(tap((line) => writer.writeLine(line.toUpperCase()))),
    ),
  );
}

const hasSocat = installed('socat');
const hasNc = installed('nc');
const hasRedis = installed('redis-server');

describe('interop with programs nobody here wrote', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  (hasSocat ? it : it.skip)('socat is a client of an rx-tcp server, over TCP and a Unix socket', async () => {
    const tcp = await upperCase(loopback());
    const file = path.join(tmp.dir, 'socat.sock');
    const unix = await upperCase(onFile(file));
    try {
      expect(await run('socat', ['-t', '5', '-', `TCP:127.0.0.1:${tcp.listeningOn}`], 'hello\nsocat\n')).toBe(
        'HELLO\nSOCAT\n',
      );
      expect(await run('socat', ['-t', '5', '-', `UNIX-CONNECT:${file}`], 'over unix\n')).toBe('OVER UNIX\n');
    } finally {
      await lastValueFrom(tcp.close({ closeExistingConnections: true }));
      await lastValueFrom(unix.close({ closeExistingConnections: true }));
    }
  });

  (hasNc ? it : it.skip)('nc is a client of an rx-tcp server, over TCP and a Unix socket', async () => {
    const tcp = await upperCase(loopback());
    const file = path.join(tmp.dir, 'nc.sock');
    const unix = await upperCase(onFile(file));
    try {
      // -N: send FIN once stdin ends, so the server's reader completes.
      expect(await run('nc', ['-N', '127.0.0.1', String(tcp.listeningOn)], 'netcat\n')).toBe('NETCAT\n');
      expect(await run('nc', ['-N', '-U', file], 'unix netcat\n')).toBe('UNIX NETCAT\n');
    } finally {
      await lastValueFrom(tcp.close({ closeExistingConnections: true }));
      await lastValueFrom(unix.close({ closeExistingConnections: true }));
    }
  });

  describe('redis-server as the server of an rx-tcp client speaking RESP', () => {
    let redis: ChildProcess | undefined;
    let port = 0;

    beforeAll(async () => {
      if (!hasRedis) return;
      // A port the OS just handed out and released; redis binds it (retried if another took it).
      for (let attempt = 0; attempt < 5 && redis === undefined; attempt++) {
        port = await closedPort();
        const child = spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            tmp.dir,
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let output = '';
        child.stdout!.on('data', (d) => (output += d));
        const ready = await new Promise<boolean>((resolve) => {
          child.once('exit', () => resolve(false));
          waitFor(() => output.includes('Ready to accept connections'), 10_000, 'redis').then(
            () => resolve(true),
            () => resolve(false),
          );
        });
        if (ready) redis = child;
        else child.kill();
      }
      if (redis === undefined) throw new Error('redis-server did not start');
    }, 30_000);

    afterAll(async () => {
      if (redis === undefined) return;
      const exited = new Promise((resolve) => redis!.once('exit', resolve));
      redis.kill();
      await exited;
    });

    (hasRedis ? it : it.skip)('PING, SET and GET', async () => {
      const replies = await lastValueFrom(
        withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) =>
          pipeline(reader, writer, [
            ['PING'],
            ['SET', 'rx-tcp:key', 'välue ✓'],
            ['GET', 'rx-tcp:key'],
            ['GET', 'rx-tcp:none'],
          ]),
        ),
      );
      expect(replies).toEqual(['PONG', 'OK', 'välue ✓', null]);
    });

    (hasRedis ? it : it.skip)('1 000 pipelined INCRs are read back in order', async () => {
      const commands = [
        ['DEL', 'rx-tcp:counter'],
        ...Array.from({ length: 1000 }, () => ['INCR', 'rx-tcp:counter']),
      ];
      const replies = await lastValueFrom(
        withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) =>
          pipeline(reader, writer, commands),
        ),
      );
      expect(replies.slice(1)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    });

    (hasRedis ? it : it.skip)('an error reply is a value, not a failure of the connection', async () => {
      const replies = await lastValueFrom(
        withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) =>
          pipeline(reader, writer, [['NOSUCHCOMMAND'], ['PING']]),
        ),
      );
      expect(replies[0]).toBeInstanceOf(Error);
      expect(replies[1]).toBe('PONG');
    });
  });
});
