import { Tcp, toFile, toHostAndPort, toInetAddress, toUnixAddress } from 'rx-tcp';

describe('where to connect', () => {
  it('describes itself as host:port or path', () => {
    expect(toHostAndPort('localhost', 80).toString()).toBe('localhost:80');
    expect(toHostAndPort('::1', 8080).toString()).toBe('[::1]:8080');
    expect(String(toInetAddress({ family: 'inet', host: '127.0.0.1', port: 1 }))).toBe('127.0.0.1:1');
    expect(JSON.stringify(toFile('/tmp/a.sock'))).toBe('"/tmp/a.sock"');
    expect(toUnixAddress({ family: 'unix', path: '/tmp/b' }).family).toBe('unix');
    expect(Tcp.toHostAndPort('a', 1).family).toBe('inet');
  });

  it.each([
    [() => toHostAndPort('localhost', 0), RangeError, /got 0/],
    [() => toHostAndPort('localhost', 65536), RangeError, /got 65536/],
    [() => toHostAndPort('localhost', 80.5), RangeError, /got 80.5/],
    [() => toHostAndPort('localhost', Number.NaN), RangeError, /got NaN/],
    [() => toHostAndPort('localhost', '80' as unknown as number), TypeError, /got "80"/],
    [() => toHostAndPort('', 80), RangeError, /host must not be empty/],
    [() => toHostAndPort(undefined as unknown as string, 80), TypeError, /got undefined/],
    [() => toHostAndPort('localhost', 80, { viaLocalInterface: 'eth0' }), TypeError, /got "eth0"/],
    [() => toHostAndPort('localhost', 80, { viaLocalPort: -1 }), RangeError, /got -1/],
    [() => toInetAddress({ family: 'inet', host: 'localhost', port: 80 }), TypeError, /got "localhost"/],
    [() => toInetAddress({ family: 'unix', path: '/x' } as never), TypeError, /expected an InetAddress/],
    [() => toFile(''), RangeError, /path must not be empty/],
    [() => toFile(`/tmp/${'x'.repeat(103)}`), RangeError, /108 bytes, longer than the 107/],
    [() => toUnixAddress({ family: 'unix', path: 42 as unknown as string }), TypeError, /got 42/],
  ])('rejects bad arguments at the call (%#)', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });

  it('accepts a path of exactly 107 bytes', () => {
    expect(toFile(`/tmp/${'x'.repeat(102)}`).toString()).toHaveLength(107);
  });
});
