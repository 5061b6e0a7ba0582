// Type-level tests: they run as no-ops, and the type-check (ts-jest, and `npm run typecheck` in CI)
// fails if an expectation or an `@ts-expect-error` no longer holds.
import { expectTypeOf } from 'expect-type';
import {
  type Connection,
  connect,
  connectSock,
  type EOF,
  type InetAddress,
  listen,
  onFile,
  onPort,
  onPortChosenByOs,
  type Reader,
  Server,
  type ShortRead,
  type Socket,
  toFile,
  toHostAndPort,
  toInetAddress,
  type UnixAddress,
  withConnection,
} from 'rx-tcp';
import type { Observable } from 'rxjs';

describe('types', () => {
  it('carry the address family from where to connect to the connection', () => {
    expectTypeOf(connect(toFile('/tmp/a.sock'))).toEqualTypeOf<Observable<Connection<UnixAddress>>>();
    expectTypeOf(connect(toHostAndPort('localhost', 1))).toEqualTypeOf<Observable<Connection<InetAddress>>>();
    expectTypeOf(connectSock(toFile('/tmp/a.sock'))).toEqualTypeOf<Observable<Socket<UnixAddress>>>();
    expectTypeOf(withConnection(toFile('/tmp/a.sock'), (c) => [c.remoteAddress.path])).toEqualTypeOf<
      Observable<string>
    >();
    // @ts-expect-error: a Unix connection has no port
    withConnection(toFile('/tmp/a.sock'), (c) => [c.remoteAddress.port]);
    // Never called: it would throw at run time, as it must not compile.
    const misuse = () =>
      // @ts-expect-error: toInetAddress takes an InetAddress only
      toInetAddress({ family: 'unix', path: '/tmp/a.sock' });
    expect(misuse).toBeInstanceOf(Function);
  });

  it('carry the address and what is listened on to the server', () => {
    const handler = () => [];
    expectTypeOf(Server.create(onPort(8080), handler)).toEqualTypeOf<
      Observable<Server<InetAddress, number>>
    >();
    expectTypeOf(Server.create(onPortChosenByOs, handler)).toEqualTypeOf<
      Observable<Server<InetAddress, number>>
    >();
    expectTypeOf(Server.create(onFile('/tmp/s'), handler)).toEqualTypeOf<
      Observable<Server<UnixAddress, string>>
    >();
    expectTypeOf(listen(onFile('/tmp/s'))).toEqualTypeOf<Observable<Connection<UnixAddress>>>();
    // @ts-expect-error: a handler of inet peers cannot serve a Unix socket
    Server.create(onFile('/tmp/s'), (address: InetAddress) => [address.port]);
    // @ts-expect-error: the port of onPort is a number
    const wrong: Observable<Server<InetAddress, string>> = Server.create(onPort(8080), handler);
    expect(wrong).toBeDefined();
  });

  it('give pull reads precise results', () => {
    const reader = {} as Reader;
    expectTypeOf<ReturnType<Reader['readLine']>>().toEqualTypeOf<Observable<string | typeof EOF>>();
    expectTypeOf<ReturnType<Reader['reallyRead']>>().toEqualTypeOf<
      Observable<Buffer | ShortRead | typeof EOF>
    >();
    expectTypeOf<ReturnType<Reader['contents']>>().toEqualTypeOf<Observable<Buffer>>();
    expectTypeOf(reader).toMatchTypeOf<Observable<Buffer>>();
  });
});
