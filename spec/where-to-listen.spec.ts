import { onFile, onPort, onPortChosenByOs, Tcp, WhereToListen } from 'rx-tcp';

describe('where to listen', () => {
  it('prints like Async s-expressions and serialises to JSON', () => {
    expect(String(onPort(8080))).toBe('(inet [::]:8080)');
    expect(onPortChosenByOs.toJSON()).toEqual({ socketType: 'inet', address: '[::]:0' });
    expect(String(onFile('/tmp/app.sock'))).toBe('(unix /tmp/app.sock)');
    expect(JSON.stringify(Tcp.onFile('/tmp/a'))).toBe('{"socketType":"unix","address":"/tmp/a"}');
  });

  it('maps the bound address to what the server listens on', () => {
    expect(onPortChosenByOs.listeningOn({ family: 'inet', host: '::', port: 4242 })).toBe(4242);
    expect(onFile('/tmp/x').listeningOn({ family: 'unix', path: '/tmp/x' })).toBe('/tmp/x');
    const custom = WhereToListen.create({
      socketType: 'inet',
      address: { family: 'inet', host: '127.0.0.1', port: 0 },
      listeningOn: (bound) => `port ${bound.port}`,
    });
    expect(custom.listeningOn({ family: 'inet', host: '127.0.0.1', port: 7 })).toBe('port 7');
    expect(String(custom)).toBe('(inet 127.0.0.1:0)');
  });

  it.each([
    [() => onPort(0), RangeError, /got 0/],
    [() => onPort(70000), RangeError, /got 70000/],
    [() => onFile(''), RangeError, /must not be empty/],
    [() => onFile('x'.repeat(200)), RangeError, /200 bytes/],
    [
      () => WhereToListen.create({ socketType: 'tcp' as never, address: {} as never, listeningOn: () => 0 }),
      TypeError,
      /got "tcp"/,
    ],
    [
      () =>
        WhereToListen.create({
          socketType: 'inet',
          address: { family: 'unix', path: '/x' },
          listeningOn: () => 0,
        } as never),
      TypeError,
      /must be a inet address/,
    ],
    [
      () =>
        WhereToListen.create({
          socketType: 'inet',
          address: { family: 'inet', host: '::', port: 1 },
          listeningOn: 5 as never,
        }),
      TypeError,
      /listeningOn must be a function, got 5/,
    ],
  ])('rejects bad arguments at the call (%#)', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});
