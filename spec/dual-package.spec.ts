import * as net from 'node:net';
import * as rx from 'rx-tcp';
import { firstValueFrom } from 'rxjs';

/**
 * An application that loads both the CommonJS and the ESM build holds two copies of every class.
 * Jest's isolated registry gives a second copy of the sources, standing for the other build.
 */
function otherCopy(): typeof rx {
  let copy: typeof rx | undefined;
  jest.isolateModules(() => {
    copy = require('../src/index');
  });
  return copy!;
}

describe('two copies of rx-tcp in one process', () => {
  const other = otherCopy();

  it('are two copies', () => {
    expect(other.WhereToConnect).not.toBe(rx.WhereToConnect);
    expect(other.WhereToListen).not.toBe(rx.WhereToListen);
  });

  it('take each other’s WhereToConnect', async () => {
    const server = net.createServer((socket) => socket.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as net.AddressInfo;
      const where = other.toHostAndPort('127.0.0.1', port);
      expect(where instanceof rx.WhereToConnect).toBe(true);
      const connection = await firstValueFrom(rx.connect(where));
      expect(String(await firstValueFrom(connection.reader.contents()))).toBe('hello');
      await firstValueFrom(connection.close(), { defaultValue: undefined });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('take each other’s WhereToListen', async () => {
    const where = other.WhereToListen.create({
      socketType: 'inet',
      address: { family: 'inet', host: '127.0.0.1', port: 0 },
      listeningOn: (bound) => bound.port,
    });
    expect(where instanceof rx.WhereToListen).toBe(true);
    const server = await firstValueFrom(
      rx.Server.create(where, (_address, _reader, writer) => writer.close()),
    );
    try {
      expect(server.listeningOn).toBeGreaterThan(0);
    } finally {
      await firstValueFrom(server.close(), { defaultValue: undefined });
    }
  });

  it('share EOF, which a pull read of either copy gives at end of stream', () => {
    expect(other.EOF).toBe(rx.EOF);
  });

  it('still refuse look-alikes that no copy made', () => {
    const lookAlike = { family: 'inet', netOptions: { host: '127.0.0.1', port: 1 }, toString: () => 'x' };
    expect(lookAlike instanceof rx.WhereToConnect).toBe(false);
    expect(() => rx.connect(lookAlike as never)).toThrow(TypeError);
    expect({ socketType: 'inet' } instanceof rx.WhereToListen).toBe(false);
  });
});
