import * as crypto from 'node:crypto';
import * as fc from 'fast-check';
import { BufferAgeLimitError, ConnectionAbortedError, ConsumerLeftError, WriterClosedError } from 'rx-tcp';
import { asyncScheduler, firstValueFrom, from, lastValueFrom } from 'rxjs';
import { type ClientAndPeer, clientAndPeer } from '../helpers/client-and-peer';
import { backUp, collect, once, readBytes } from '../helpers/net';

type Peer = ClientAndPeer;
const pair = clientAndPeer;

describe('Writer', () => {
  let p: Peer;
  afterEach(() => p?.close());

  it('loses and reorders no byte writing 1 M small lines, then closing', async () => {
    p = await pair();
    const received = collect(p.peer);
    const expected = crypto.createHash('sha256');
    for (let i = 0; i < 1_000_000; i++) {
      const line = `line ${i}`;
      p.connection.writer.writeLine(line);
      expected.update(`${line}\n`);
    }
    await lastValueFrom(p.connection.writer.close());
    const data = await received;
    expect(p.connection.writer.bytesWritten).toBe(data.length);
    expect(crypto.createHash('sha256').update(data).digest('hex')).toBe(expected.digest('hex'));
  });

  it('coalesces the small writes of one tick into few system calls', async () => {
    p = await pair();
    const received = collect(p.peer);
    const write = jest.spyOn(p.connection.socket.nodeSocket, 'write');
    for (let i = 0; i < 10_000; i++) p.connection.writer.write('0123456789abcdef'); // 160 000 bytes
    expect(write).toHaveBeenCalledTimes(2); // two full 64 KiB buffers so far; the rest at the end of the tick
    await lastValueFrom(p.connection.writer.flushed());
    expect(write).toHaveBeenCalledTimes(3);
    await lastValueFrom(p.connection.writer.close());
    expect((await received).length).toBe(160_000);
  });

  it('sends the answers to a batch of requests in one system call, even with an await between answers', async () => {
    p = await pair();
    const { connection, peer } = p;
    const write = jest.spyOn(connection.socket.nodeSocket, 'write');
    let chunks = 0;
    connection.socket.nodeSocket.prependListener('data', () => chunks++);
    const requests = 100;
    // A pull loop as a protocol server writes it: read a request, await, answer it.
    const serving = (async () => {
      for (let i = 0; i < requests; i++) {
        const line = await firstValueFrom(connection.reader.readLine());
        await Promise.resolve(); // some asynchronous work per request
        connection.writer.writeLine(`answer to ${String(line)}`);
      }
    })();
    const expected = Array.from({ length: requests }, (_, i) => `answer to ${i}\n`).join('');
    const answers = readBytes(peer, expected.length);
    peer.write(Array.from({ length: requests }, (_, i) => `${i}\n`).join(''));
    await serving;
    expect((await answers).toString()).toBe(expected);
    // One system call per batch of input received, never one per answer.
    expect(chunks).toBeGreaterThan(0);
    expect(write.mock.calls.length).toBeLessThanOrEqual(chunks);
  });

  it('flushes in the same turn of the event loop, before it waits for I/O again', async () => {
    p = await pair();
    const { connection } = p;
    const write = jest.spyOn(connection.socket.nodeSocket, 'write');
    connection.writer.write('a');
    await Promise.resolve();
    connection.writer.write('b');
    expect(write).not.toHaveBeenCalled();
    // Immediates run in the order they were queued, all in one check phase.
    const seenAfterwards = await new Promise<number>((resolve) =>
      setImmediate(() => resolve(write.mock.calls.length)),
    );
    expect(seenAfterwards).toBe(1);
    expect(String(write.mock.calls[0][0])).toBe('ab');
  });

  it('loses and reorders no byte whatever the sizes of the writes and the cycles they fall in', async () => {
    const write = fc.oneof(
      fc.record({ kind: fc.constant('text' as const), size: fc.integer({ min: 0, max: 20_000 }) }),
      fc.record({ kind: fc.constant('bytes' as const), size: fc.integer({ min: 0, max: 70_000 }) }),
      fc.record({ kind: fc.constant('cycle' as const), size: fc.constant(0) }),
      fc.record({ kind: fc.constant('flushed' as const), size: fc.constant(0) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(write, { maxLength: 40 }),
        fc.integer({ min: 0, max: 255 }),
        async (ops, seed) => {
          const q = await pair();
          try {
            const received = collect(q.peer);
            const expected: Buffer[] = [];
            let next = seed;
            for (const { kind, size } of ops) {
              if (kind === 'cycle') await new Promise((resolve) => setImmediate(resolve));
              else if (kind === 'flushed') await lastValueFrom(q.connection.writer.flushed());
              else {
                const bytes = Buffer.alloc(size);
                for (let i = 0; i < size; i++)
                  bytes[i] = kind === 'text' ? 0x61 + ((next + i) % 26) : (next + i) & 0xff;
                next += size;
                expected.push(Buffer.from(bytes));
                if (kind === 'text') q.connection.writer.write(bytes.toString('latin1'));
                else {
                  q.connection.writer.write(bytes);
                  bytes.fill(0); // reused at once by the caller
                }
              }
            }
            await lastValueFrom(q.connection.writer.close());
            expect((await received).equals(Buffer.concat(expected))).toBe(true);
          } finally {
            await q.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('passes large writes through uncopied, and copies small ones so the caller may reuse them', async () => {
    p = await pair();
    const received = collect(p.peer);
    const write = jest.spyOn(p.connection.socket.nodeSocket, 'write');
    const large = crypto.randomBytes(1024 * 1024);
    const small = new Uint8Array([1, 2, 3]);
    p.connection.writer.write(small);
    small.fill(9); // reused at once
    p.connection.writer.write(large);
    expect(write.mock.calls[1][0]).toBe(large);
    await lastValueFrom(p.connection.writer.close());
    const data = await received;
    expect(data.subarray(0, 3)).toEqual(Buffer.from([1, 2, 3]));
    expect(data.subarray(3).equals(large)).toBe(true);
  });

  it('writes strings as UTF-8 and mixes them with bytes in order', async () => {
    p = await pair();
    const received = collect(p.peer);
    const { writer } = p.connection;
    writer.write('héllo ');
    writer.write(Buffer.from('wörld'));
    writer.write(` ${'€'.repeat(10_000)}`); // over 16 KiB once encoded: passes through
    writer.writeLine('!');
    await lastValueFrom(writer.close());
    expect((await received).toString()).toBe(`héllo wörld ${'€'.repeat(10_000)}!\n`);
    expect(writer.bytesWritten).toBe(Buffer.byteLength(`héllo wörld ${'€'.repeat(10_000)}!\n`));
  });

  it('counts bytesWritten and bytesToWrite, and flushed() emits once they reached the OS', async () => {
    p = await pair();
    const { writer } = p.connection;
    writer.write('abc');
    expect(writer.bytesWritten).toBe(3);
    expect(writer.bytesToWrite).toBe(3);
    const flushed = writer.flushed();
    await lastValueFrom(flushed);
    expect(writer.bytesToWrite).toBe(0);
    await lastValueFrom(flushed); // replays to a late subscriber
  });

  it('is an Observer: next writes, complete closes (flush, FIN)', async () => {
    p = await pair();
    const received = collect(p.peer);
    from(['a', 'b', Buffer.from('c')]).subscribe(p.connection.writer);
    await lastValueFrom(p.connection.writer.closeFinished);
    expect((await received).toString()).toBe('abc');
  });

  it('error() aborts: drops what is unflushed and closes the connection', async () => {
    p = await pair();
    const closed = once(p.peer, 'close');
    p.connection.writer.write('never sent');
    p.connection.writer.error(new Error('source failed'));
    await closed;
    await lastValueFrom(p.connection.closed);
    expect(p.connection.socket.nodeSocket.destroyed).toBe(true);
  });

  it('close() is idempotent, completes closeFinished, and writing afterwards throws', async () => {
    p = await pair();
    const { writer } = p.connection;
    const a = writer.close();
    expect(writer.close()).toBe(a);
    expect(writer.closeFinished).toBe(a);
    await lastValueFrom(a);
    expect(writer.isClosed).toBe(true);
    expect(() => writer.write('late')).toThrow(WriterClosedError);
    expect(() => writer.close({ forceCloseAfter: -1 })).toThrow(/forceCloseAfter .* got -1/);
  });

  it('arms the force-close timer only when bytes wait for the peer', async () => {
    const schedule = jest.spyOn(asyncScheduler, 'schedule');
    const forceCloseTimers = () => schedule.mock.calls.filter((call) => call[1] === 12_345).length;
    try {
      p = await pair();
      await lastValueFrom(p.connection.writer.close({ forceCloseAfter: 12_345 }));
      expect(forceCloseTimers()).toBe(0); // nothing queued: the FIN cannot wait for the peer
      const other = await pair();
      try {
        backUp(other.connection.writer, other.peer);
        const closing = lastValueFrom(other.connection.writer.close({ forceCloseAfter: 12_345 }));
        expect(forceCloseTimers()).toBe(1);
        other.peer.resume();
        await closing;
      } finally {
        await other.close();
      }
    } finally {
      schedule.mockRestore();
    }
  });

  it('force-closes after forceCloseAfter when the peer does not take the bytes', async () => {
    p = await pair({ bufferAgeLimit: 'unlimited' });
    backUp(p.connection.writer, p.peer);
    const started = Date.now();
    const error = await lastValueFrom(p.connection.writer.close({ forceCloseAfter: 100 })).catch((e) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    // Bytes were dropped: a failure of the writer, by this side, never a success.
    expect(error).toBeInstanceOf(ConnectionAbortedError);
    expect(error.message).toMatch(/force-closed with \d+ bytes unsent/);
    expect(p.connection.writer.bytesLost).toBeGreaterThan(0);
    await lastValueFrom(p.connection.closed);
  });

  it('consumerLeft emits when the peer resets; only bytes lost make it an error', async () => {
    p = await pair();
    const { writer } = p.connection;
    writer.write('delivered');
    await lastValueFrom(writer.flushed());
    p.peer.resetAndDestroy();
    await lastValueFrom(writer.consumerLeft);
    writer.write('lost');
    const error = await lastValueFrom(writer.flushed()).catch((e) => e);
    expect(error).toBeInstanceOf(ConsumerLeftError);
    expect(error.bytesLost).toBe(4);
    expect(error.cause).toMatchObject({ code: 'ECONNRESET' });
    await expect(lastValueFrom(writer.close())).rejects.toBe(error);
  });

  it('a reset with nothing pending is not a failure of the writer', async () => {
    p = await pair();
    const { writer } = p.connection;
    p.peer.resetAndDestroy();
    await lastValueFrom(writer.consumerLeft);
    await lastValueFrom(writer.close());
  });

  it('closeFinished asked for only once the close is over replays how it ended', async () => {
    p = await pair();
    await lastValueFrom(p.connection.close());
    await expect(lastValueFrom(p.connection.writer.closeFinished)).resolves.toBeUndefined();

    const limited = await pair({ bufferAgeLimit: 50 });
    try {
      limited.connection.writer.write('HEAD');
      backUp(limited.connection.writer, limited.peer);
      await lastValueFrom(limited.connection.closed);
      const error = await lastValueFrom(limited.connection.writer.closeFinished).catch((e) => e);
      expect(error).toBeInstanceOf(BufferAgeLimitError);
    } finally {
      await limited.close();
    }
  });

  it('fails with BufferAgeLimitError against a peer that never reads, closes the connection, and the process lives', async () => {
    p = await pair({ bufferAgeLimit: 150 });
    const { writer, reader } = p.connection;
    const started = Date.now();
    writer.write('HEAD');
    backUp(p.connection.writer, p.peer);
    const error = await lastValueFrom(writer.closeFinished).catch((e) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(error).toBeInstanceOf(BufferAgeLimitError);
    expect(error.limit).toBe(150);
    expect(error.bytesWaiting).toBeGreaterThan(0);
    expect(error.firstBytes.length).toBeLessThanOrEqual(32);
    await lastValueFrom(p.connection.closed);
    expect(p.connection.socket.nodeSocket.destroyed).toBe(true);
    await expect(lastValueFrom(reader)).rejects.toBe(error);
    await expect(lastValueFrom(writer.close())).rejects.toBe(error);
  });

  it("never fails with bufferAgeLimit: 'unlimited'", async () => {
    const limited = await pair({ bufferAgeLimit: 200 });
    p = await pair({ bufferAgeLimit: 'unlimited' });
    try {
      backUp(p.connection.writer, p.peer);
      backUp(limited.connection.writer, limited.peer);
      await expect(lastValueFrom(limited.connection.writer.closeFinished)).rejects.toBeInstanceOf(
        BufferAgeLimitError,
      );
      expect(p.connection.writer.isClosed).toBe(false);
      expect(p.connection.writer.bytesToWrite).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
