import { type Connection, type InetAddress, type Server, toHostAndPort } from 'rx-tcp';
import { connectionPair, serveConnection } from 'rx-tcp/testing';
import { defer, lastValueFrom, of } from 'rxjs';
import { loopback } from '../spec/helpers/servers';
import { RedisClient } from './redis-client';
import { serveResp, startRespServer } from './resp-server';

// The pooled Redis client against the repository's own RESP server (examples/resp-server.ts), on
// loopback and in memory: no redis-server needed. spec/reliability/interop.spec.ts runs `pipeline`
// against the real one.

describe('RedisClient over a ConnectionPool', () => {
  let server: Server<InetAddress, number>;
  let accepted: number;
  let client: RedisClient;
  beforeEach(async () => {
    server = await startRespServer(loopback());
    accepted = 0;
    server.events.subscribe((event) => {
      if (event.type === 'accepted') accepted++;
    });
    client = RedisClient.create(toHostAndPort('127.0.0.1', server.listeningOn), { maxConnections: 4 });
  });
  afterEach(async () => {
    await lastValueFrom(client.close(), { defaultValue: undefined });
    await lastValueFrom(server.close(), { defaultValue: undefined });
  });

  it('answers commands and pipelines, reusing one connection for calls made one after another', async () => {
    expect(await lastValueFrom(client.command('PING'))).toBe('PONG');
    expect(
      await lastValueFrom(
        client.pipeline([
          ['SET', 'k', 'välue ✓'],
          ['GET', 'k'],
          ['GET', 'none'],
        ]),
      ),
    ).toEqual(['OK', 'välue ✓', null]);
    const error = await lastValueFrom(client.command('NOSUCHCOMMAND'));
    expect(error).toBeInstanceOf(Error); // an error reply is a value; the connection goes on
    expect(await lastValueFrom(client.command('ECHO', 'still here'))).toBe('still here');
    expect(accepted).toBe(1);
    expect(client.stats).toEqual({ open: 1, idle: 1, leased: 0, waiting: 0 });
  });

  it('serves 200 callers at once on at most 4 connections, each getting its own replies', async () => {
    const calls = Array.from({ length: 200 }, (_, i) =>
      lastValueFrom(
        client.pipeline([
          ['SET', `key:${i}`, `value ${i}`],
          ['INCR', 'counter'],
          ['GET', `key:${i}`],
        ]),
      ),
    );
    expect(client.stats).toEqual({ open: 4, idle: 0, leased: 0, waiting: 196 });
    const replies = await Promise.all(calls);
    expect(replies.map(([ok, , value]) => [ok, value])).toEqual(
      Array.from({ length: 200 }, (_, i) => ['OK', `value ${i}`]),
    );
    // Every INCR counted once, whatever connection carried it.
    expect(replies.map(([, count]) => count).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    expect(accepted).toBe(4);
  });

  it('runs over in-memory connections through the factory form', async () => {
    const store = new Map();
    const memory = RedisClient.create(() =>
      defer(() => {
        const [ours, theirs] = connectionPair();
        serveConnection(theirs, serveResp(store)).subscribe();
        return of(ours as Connection<InetAddress>);
      }),
    );
    expect(
      await lastValueFrom(
        memory.pipeline([
          ['SET', 'a', '1'],
          ['INCR', 'a'],
        ]),
      ),
    ).toEqual(['OK', 2]);
    await lastValueFrom(memory.close(), { defaultValue: undefined });
  });
});
