import type * as net from 'node:net';
import { BufferAgeLimitError, type Connection, toHostAndPort, withConnection } from 'rx-tcp';
import {
  catchError,
  concat,
  defer,
  firstValueFrom,
  lastValueFrom,
  NEVER,
  of,
  throwError,
  toArray,
} from 'rxjs';
import { backUp, collect, once, rawServer, waitFor } from '../helpers/net';

describe('withConnection', () => {
  let server: Awaited<ReturnType<typeof rawServer>>;
  let received: Promise<Buffer>[];
  let peers: net.Socket[];
  beforeEach(async () => {
    received = [];
    peers = [];
    server = await rawServer((socket) => {
      peers.push(socket);
      received.push(collect(socket));
    });
  });
  afterEach(() => server.close());
  const where = () => toHostAndPort('127.0.0.1', server.port);

  it("emits f's values, closes the writer then the reader, and completes after the socket is closed", async () => {
    const calls: string[] = [];
    let connection!: Connection;
    const values = await lastValueFrom(
      withConnection(where(), (c) => {
        connection = c;
        // The connection closes both with shut(): close() without the Observable.
        const writerShut = c.writer.shut.bind(c.writer);
        const readerShut = c.reader.shut.bind(c.reader);
        jest.spyOn(c.writer, 'shut').mockImplementation((o) => {
          calls.push('writer');
          writerShut(o);
        });
        jest.spyOn(c.reader, 'shut').mockImplementation(() => {
          calls.push('reader');
          readerShut();
        });
        c.writer.writeLine('hello');
        return of(1, 2, 3);
      }).pipe(toArray()),
    );
    expect(values).toEqual([1, 2, 3]);
    expect(calls).toEqual(['writer', 'reader']);
    expect(connection.socket.nodeSocket.destroyed).toBe(true);
    expect((await received[0]).toString()).toBe('hello\n');
  });

  it('reads the answer of a request, Async style', async () => {
    await server.close();
    server = await rawServer((socket) => {
      socket.once('data', (d) => socket.end(`echo: ${d}`));
    });
    const answer = await firstValueFrom(
      withConnection(where(), ({ reader, writer }) => {
        writer.write('ping');
        return reader.contents();
      }),
    );
    expect(answer.toString()).toBe('echo: ping');
  });

  it("delivers f's error after the close", async () => {
    const failure = new Error('protocol error');
    let connection!: Connection;
    const error = await lastValueFrom(
      withConnection(where(), (c) => {
        connection = c;
        c.writer.write('partial');
        return throwError(() => failure);
      }),
    ).catch((e) => e);
    expect(error).toBe(failure);
    expect(connection.socket.nodeSocket.destroyed).toBe(true);
    expect((await received[0]).toString()).toBe('partial');
  });

  it('treats f throwing synchronously as its error', async () => {
    const failure = new Error('thrown');
    let connection!: Connection;
    const error = await lastValueFrom(
      withConnection(where(), (c) => {
        connection = c;
        throw failure;
      }),
    ).catch((e) => e);
    expect(error).toBe(failure);
    expect(connection.socket.nodeSocket.destroyed).toBe(true);
  });

  it("makes the writer's failure the result's error when f itself succeeded", async () => {
    const error = await lastValueFrom(
      withConnection(
        where(),
        ({ writer }) =>
          defer(async () => {
            // The peer must not read: against a reading peer the 16 MiB may flush within the
            // limit. The client's connect can be reported before the server's accept, so wait for it.
            await waitFor(() => peers.length === 1, 5000, 'accept');
            backUp(writer, peers[0]);
            return 'done';
          }),
        { bufferAgeLimit: 100 },
      ),
    ).catch((e) => e);
    expect(error).toBeInstanceOf(BufferAgeLimitError);
  });

  it('closes the connection when unsubscribed while f runs', async () => {
    let connection!: Connection;
    const subscription = withConnection(where(), (c) => {
      connection = c;
      c.writer.write('bye');
      return NEVER;
    }).subscribe();
    await waitFor(() => connection !== undefined && peers.length === 1, 5000, 'connected');
    subscription.unsubscribe();
    expect((await received[0]).toString()).toBe('bye');
    await lastValueFrom(connection.closed);
  });

  it('does not count the peer leaving as an error by itself', async () => {
    const result = await lastValueFrom(
      withConnection(where(), ({ reader, writer }) =>
        concat(
          defer(async () => {
            await waitFor(() => peers.length === 1, 5000, 'accept');
            peers[0].resetAndDestroy();
            await lastValueFrom(writer.consumerLeft);
            return 'peer left';
          }),
          // A read fails on the reset: f would fail on it unless it handles it, as here.
          reader.read().pipe(catchError((error) => of(error.code))),
        ),
      ).pipe(toArray()),
    );
    expect(result).toEqual(['peer left', 'ECONNRESET']);
  });

  it('fails like connect when the connection cannot be made, without calling f', async () => {
    const f = jest.fn(() => of(1));
    await server.close();
    await expect(lastValueFrom(withConnection(where(), f))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(f).not.toHaveBeenCalled();
  });

  it('rejects a missing f at the call', () => {
    expect(() => withConnection(where(), undefined as never)).toThrow(/f must be a function, got undefined/);
  });

  it('waits for the peer to see our FIN before the result completes', async () => {
    await lastValueFrom(withConnection(where(), () => of(undefined)));
    await waitFor(() => peers.length === 1, 5000, 'accept');
    await Promise.race([once(peers[0], 'end'), received[0]]);
  });
});
