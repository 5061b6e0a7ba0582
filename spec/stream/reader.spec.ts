import * as crypto from 'node:crypto';
import { ConcurrentReadError, EOF, FrameTooLongError, ReaderClosedError } from 'rx-tcp';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { type ClientAndPeer, clientAndPeer } from '../helpers/client-and-peer';
import { collect, once, waitFor } from '../helpers/net';

type Peer = ClientAndPeer;
const pair = clientAndPeer;

describe('Reader', () => {
  let p: Peer;
  afterEach(() => p?.close());

  it('emits received chunks and completes at FIN', async () => {
    p = await pair();
    p.peer.end('hello world');
    const chunks = await lastValueFrom(p.connection.reader.pipe(toArray()));
    expect(Buffer.concat(chunks).toString()).toBe('hello world');
  });

  it('keeps bytes that arrive before anyone subscribes', async () => {
    p = await pair();
    p.peer.end('early bytes');
    await waitFor(() => p.connection.reader.bytesBuffered === 11, 5000, 'bytes buffered');
    expect(Buffer.concat(await lastValueFrom(p.connection.reader.pipe(toArray()))).toString()).toBe(
      'early bytes',
    );
  });

  it('serves one consumer at a time', async () => {
    p = await pair();
    const { reader } = p.connection;
    const first = reader.subscribe();
    await expect(firstValueFrom(reader)).rejects.toBeInstanceOf(ConcurrentReadError);
    await expect(firstValueFrom(reader.readLine())).rejects.toThrow(
      /one subscription or pull read at a time/,
    );
    first.unsubscribe();
    p.peer.write('next\n');
    expect(await firstValueFrom(reader.readLine())).toBe('next');
  });

  it('errors on a reset after delivering what came before it', async () => {
    p = await pair();
    p.peer.write('before reset');
    await waitFor(() => p.connection.reader.bytesBuffered === 12, 5000, 'bytes buffered');
    p.peer.resetAndDestroy();
    const seen: Buffer[] = [];
    const error = await new Promise((resolve) =>
      p.connection.reader.subscribe({ next: (c) => seen.push(c), error: resolve }),
    );
    expect(Buffer.concat(seen).toString()).toBe('before reset');
    expect(error).toMatchObject({ code: 'ECONNRESET' });
  });

  describe('pull reads', () => {
    it('readLine splits on \\n, strips one \\r, returns the unterminated tail, then EOF', async () => {
      p = await pair();
      p.peer.end('one\r\ntwo\n\r\r\nthree\nlast');
      const { reader } = p.connection;
      const lines = [];
      for (let i = 0; i < 6; i++) lines.push(await firstValueFrom(reader.readLine()));
      expect(lines).toEqual(['one', 'two', '\r', 'three', 'last', EOF]);
    });

    it('readLine waits for a line spread over many chunks, and cancelling it loses nothing', async () => {
      p = await pair();
      const { reader } = p.connection;
      const pending = reader.readLine().subscribe();
      p.peer.write('par');
      await waitFor(() => reader.bytesBuffered === 3, 5000, 'partial line');
      pending.unsubscribe();
      p.peer.write('tial line\nrest');
      expect(await firstValueFrom(reader.readLine())).toBe('partial line');
      p.peer.end();
      expect(await firstValueFrom(reader.readLine())).toBe('rest');
    });

    it('readUntil keeps or drops the delimiter and honours max', async () => {
      p = await pair();
      p.peer.end('a||b||cccccc||d');
      const { reader } = p.connection;
      expect((await firstValueFrom(reader.readUntil('||'))) as Buffer).toEqual(Buffer.from('a'));
      expect((await firstValueFrom(reader.readUntil('||', { keepDelimiter: true }))) as Buffer).toEqual(
        Buffer.from('b||'),
      );
      const error = await firstValueFrom(reader.readUntil(Buffer.from('||'), { max: 5 })).catch((e) => e);
      expect(error).toBeInstanceOf(FrameTooLongError);
      // The failed read took nothing: a larger limit reads the same frame.
      expect((await firstValueFrom(reader.readUntil('||', { max: 6 }))) as Buffer).toEqual(
        Buffer.from('cccccc'),
      );
      expect((await firstValueFrom(reader.readUntil('||'))) as Buffer).toEqual(Buffer.from('d'));
      expect(await firstValueFrom(reader.readUntil('||'))).toBe(EOF);
    });

    it('reallyRead gives exactly n bytes, then a short read, then EOF', async () => {
      p = await pair();
      p.peer.write('abc');
      setImmediate(() => p.peer.end('defgh'));
      const { reader } = p.connection;
      expect(await firstValueFrom(reader.reallyRead(4))).toEqual(Buffer.from('abcd'));
      expect(await firstValueFrom(reader.reallyRead(3))).toEqual(Buffer.from('efg'));
      expect(await firstValueFrom(reader.reallyRead(3))).toEqual({ short: true, data: Buffer.from('h') });
      expect(await firstValueFrom(reader.reallyRead(3))).toBe(EOF);
    });

    it('read gives the next chunk, contents everything, lines every line', async () => {
      p = await pair();
      const { reader } = p.connection;
      p.peer.write('x');
      expect(await firstValueFrom(reader.read())).toEqual(Buffer.from('x'));
      p.peer.end('l1\nl2\r\nl3');
      expect(await lastValueFrom(reader.lines().pipe(toArray()))).toEqual(['l1', 'l2', 'l3']);
      expect(await firstValueFrom(reader.read())).toBe(EOF);
      expect(await firstValueFrom(reader.contents())).toEqual(Buffer.alloc(0));
    });

    it('lines left early leaves the lines it did not emit for the next read', async () => {
      p = await pair();
      const { reader } = p.connection;
      p.peer.write('a\nb\nc\r\nd\n');
      await waitFor(() => reader.bytesBuffered === 9, 5000, 'four lines');
      expect(await lastValueFrom(reader.lines().pipe(take(2), toArray()))).toEqual(['a', 'b']);
      expect(reader.bytesBuffered).toBe(5);
      expect(await firstValueFrom(reader.readLine())).toBe('c');
      expect(await firstValueFrom(reader.lines())).toBe('d');
    });

    it('a subscription left early leaves the chunks it did not take for the next read', async () => {
      p = await pair();
      const { reader } = p.connection;
      p.peer.write(Buffer.alloc(1000, 'a'));
      await waitFor(() => reader.bytesBuffered === 1000, 5000, 'the first chunk');
      p.peer.write(Buffer.alloc(1000, 'b'));
      await waitFor(() => reader.bytesBuffered === 2000, 5000, 'the second chunk');
      expect(await firstValueFrom(reader.pipe(take(1)))).toEqual(Buffer.alloc(1000, 'a'));
      expect(reader.bytesBuffered).toBe(1000);
      expect(await firstValueFrom(reader.read())).toEqual(Buffer.alloc(1000, 'b'));
    });

    it('lines emits nothing more once the reader is closed under it', async () => {
      p = await pair();
      const { reader } = p.connection;
      p.peer.write('a\nb\nc\nd\n');
      await waitFor(() => reader.bytesBuffered === 8, 5000, 'four lines');
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) =>
        reader.lines().subscribe({
          next: (line) => {
            seen.push(line);
            if (line === 'b') reader.close();
          },
          complete: resolve,
          error: reject,
        }),
      );
      expect(seen).toEqual(['a', 'b']);
    });

    it('contents gathers everything until end of stream', async () => {
      p = await pair();
      const data = crypto.randomBytes(1_000_000);
      p.peer.end(data);
      expect((await firstValueFrom(p.connection.reader.contents())).equals(data)).toBe(true);
    });

    it('reject bad arguments at the call', async () => {
      p = await pair();
      const { reader } = p.connection;
      expect(() => reader.reallyRead(0)).toThrow(/n must be a positive integer, got 0/);
      expect(() => reader.reallyRead(1.5)).toThrow(RangeError);
      expect(() => reader.readUntil('')).toThrow(/delimiter must not be empty, got ""/);
      expect(() => reader.readUntil('x', { max: 0 })).toThrow(
        /max must be a positive integer or Infinity, got 0/,
      );
    });
  });

  it('close() is idempotent, ends a waiting read with EOF and fails later reads', async () => {
    p = await pair();
    const { reader } = p.connection;
    const pending = firstValueFrom(reader.readLine());
    const a = reader.close();
    expect(reader.close()).toBe(a);
    await lastValueFrom(a);
    expect(await pending).toBe(EOF);
    await expect(firstValueFrom(reader.readLine())).rejects.toBeInstanceOf(ReaderClosedError);
    expect(reader.isClosed).toBe(true);
  });

  it('close() after the writer is done completes once the connection is closed, not before', async () => {
    p = await pair();
    const { reader, writer } = p.connection;
    let socketClosed = false;
    p.connection.closed.subscribe(() => {
      socketClosed = true;
    });
    await lastValueFrom(writer.close());
    expect(socketClosed).toBe(false);
    await lastValueFrom(reader.close());
    // The socket's 'close' event, a loop turn after the destroy the reader's close started.
    expect(socketClosed).toBe(true);
  });

  it('half-close: the peer FIN completes the reader while our writer goes on', async () => {
    p = await pair();
    const { reader, writer } = p.connection;
    const received = new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      p.peer.on('data', (c) => chunks.push(c)).once('end', () => resolve(Buffer.concat(chunks)));
    });
    p.peer.end('bye');
    expect(await firstValueFrom(reader.contents())).toEqual(Buffer.from('bye'));
    writer.writeLine('still writing after your FIN');
    await lastValueFrom(writer.close());
    expect((await received).toString()).toBe('still writing after your FIN\n');
  });

  it('half-close: our FIN (writer.complete) leaves the reader reading', async () => {
    p = await pair();
    const { reader, writer } = p.connection;
    p.peer.on('end', () => p.peer.end('answer after your FIN'));
    p.peer.resume();
    writer.write('request');
    writer.complete();
    await once(p.peer, 'end');
    expect((await firstValueFrom(reader.contents())).toString()).toBe('answer after your FIN');
  });

  it('pauses the socket past readerBufferSize; a 64 MiB burst costs far less memory, and all arrives intact', async () => {
    p = await pair({ readerBufferSize: 128 * 1024 });
    const { reader } = p.connection;
    const total = 64 * 1024 * 1024;
    const chunk = crypto.randomBytes(64 * 1024);
    const expected = crypto.createHash('sha256');
    let sent = 0;
    // The peer writes with backpressure, so that the bytes it has sent are bytes we were offered.
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        expected.update(chunk);
        if (!p.peer.write(chunk)) {
          p.peer.once('drain', pump);
          return;
        }
      }
      p.peer.end();
    };
    const before = process.memoryUsage();
    pump();
    // Wait until the flow stops: nothing more sent for 300 ms.
    let last = -1;
    let quietSince = Date.now();
    await waitFor(
      () => {
        if (sent !== last) {
          last = sent;
          quietSince = Date.now();
        }
        return Date.now() - quietSince > 300;
      },
      20_000,
      'the peer to stall',
    );
    const after = process.memoryUsage();
    expect(sent).toBeLessThan(24 * 1024 * 1024); // kernel buffers + 128 KiB, not 64 MiB
    expect(reader.bytesBuffered).toBeLessThanOrEqual(128 * 1024 + 64 * 1024);
    const growth = after.arrayBuffers - before.arrayBuffers;
    expect(growth).toBeLessThan(16 * 1024 * 1024);

    const actual = crypto.createHash('sha256');
    let received = 0;
    await new Promise<void>((resolve, reject) =>
      reader.subscribe({
        next: (c) => {
          received += c.length;
          actual.update(c);
        },
        complete: resolve,
        error: reject,
      }),
    );
    expect(received).toBe(total);
    expect(actual.digest('hex')).toBe(expected.digest('hex'));
  });

  it('transfer moves chunks into a writer with pushback, holding bounded memory, and completes at FIN', async () => {
    p = await pair({ readerBufferSize: 64 * 1024 });
    const { reader, writer } = p.connection;
    const total = 32 * 1024 * 1024;
    const chunk = crypto.randomBytes(32 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!p.peer.write(chunk)) {
          p.peer.once('drain', pump);
          return;
        }
      }
      p.peer.end();
    };
    p.peer.pause(); // the peer does not read what we echo back, at first
    let maxToWrite = 0;
    let maxBuffered = 0;
    let done = false;
    reader
      .transfer(writer, (c) => {
        maxToWrite = Math.max(maxToWrite, writer.bytesToWrite);
        maxBuffered = Math.max(maxBuffered, reader.bytesBuffered);
        return c;
      })
      .subscribe({ complete: () => (done = true) });
    pump();
    let last = -1;
    let quietSince = Date.now();
    await waitFor(
      () => {
        if (sent !== last) [last, quietSince] = [sent, Date.now()];
        return Date.now() - quietSince > 300;
      },
      20_000,
      'the echo to stall',
    );
    expect(sent).toBeLessThan(total);
    expect(writer.bytesToWrite).toBeLessThan(64 * 1024 + 2 * chunk.length + 1);
    expect(maxBuffered).toBeLessThanOrEqual(64 * 1024 + chunk.length);

    const echoed = collect(p.peer);
    p.peer.resume();
    await waitFor(() => done, 20_000, 'transfer to complete');
    await lastValueFrom(writer.close());
    const data = await echoed;
    expect(data.length).toBe(total);
    for (let offset = 0; offset < total; offset += chunk.length) {
      if (!data.subarray(offset, offset + chunk.length).equals(chunk))
        throw new Error(`corrupt at ${offset}`);
    }
  });
});
