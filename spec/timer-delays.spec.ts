import { ConnectionPool, connect, onPortChosenByOs, Server, toHostAndPort } from 'rx-tcp';
import { connectionPair } from 'rx-tcp/testing';
import { firstValueFrom, lastValueFrom } from 'rxjs';

/**
 * Every delay rx-tcp hands to a scheduler is refused at the call past 2^31 - 1 ms: Node fires a
 * longer timer after 1 ms, so a timeout meant to be long would fire at once.
 */
const TOO_LONG = 2 ** 31;
const LIMIT = /at most 2147483647 ms, got 2147483648/;
const where = toHostAndPort('127.0.0.1', 1);

describe('delays past what a Node timer keeps', () => {
  it('are refused by every option that sets a timer', () => {
    expect(() => connect(where, { timeout: TOO_LONG })).toThrow(LIMIT);
    expect(() => connect(where, { bufferAgeLimit: TOO_LONG })).toThrow(LIMIT);
    expect(() => Server.create(onPortChosenByOs, () => [], { idleTimeout: TOO_LONG })).toThrow(LIMIT);
    expect(() =>
      Server.create(onPortChosenByOs, () => [], { proxyProtocol: 'v1', proxyHeaderTimeout: TOO_LONG }),
    ).toThrow(LIMIT);
    expect(() => ConnectionPool.create(where, { idleTimeout: TOO_LONG })).toThrow(LIMIT);
    expect(() => ConnectionPool.create(where, { acquireTimeout: TOO_LONG })).toThrow(LIMIT);
    const pool = ConnectionPool.create(where);
    expect(() => pool.close({ drainTimeout: TOO_LONG })).toThrow(LIMIT);
    const [a, b] = connectionPair();
    expect(() => a.close({ forceCloseAfter: TOO_LONG })).toThrow(LIMIT);
    a.destroy();
    b.destroy();
    pool.close().subscribe();
  });

  it('are refused by Server.close, which keeps serving', async () => {
    const server = await firstValueFrom(Server.create(onPortChosenByOs, () => []));
    expect(() => server.close({ drainTimeout: TOO_LONG })).toThrow(LIMIT);
    expect(() => server.close({ forceCloseAfter: TOO_LONG })).toThrow(LIMIT);
    expect(server.isClosed()).toBe(false);
    await lastValueFrom(server.close(), { defaultValue: undefined });
  });

  it('take the longest delay a timer keeps, and Infinity where it means never', () => {
    const longest = 2 ** 31 - 1;
    expect(() => connect(where, { timeout: longest })).not.toThrow();
    expect(() => connect(where, { timeout: Number.POSITIVE_INFINITY })).not.toThrow();
    const pool = ConnectionPool.create(where, {
      idleTimeout: Number.POSITIVE_INFINITY,
      acquireTimeout: Number.POSITIVE_INFINITY,
    });
    expect(() =>
      ConnectionPool.create(where, { idleTimeout: longest, acquireTimeout: longest }),
    ).not.toThrow();
    pool.close().subscribe();
  });
});
