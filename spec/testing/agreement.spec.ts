import {
  type Connection,
  type ConnectionOptions,
  connect,
  type InetAddress,
  listen,
  toHostAndPort,
} from 'rx-tcp';
import { connectionPair } from 'rx-tcp/testing';
import { firstValueFrom, lastValueFrom, ReplaySubject, toArray } from 'rxjs';
import { waitFor } from '../helpers/net';
import { loopback } from '../helpers/servers';

// One table of scenarios, each run on a real loopback connection and on connectionPair(), with the
// same expected outcome: what a handler observes does not depend on which one it runs on.

interface Pair {
  a: Connection<InetAddress>;
  b: Connection<InetAddress>;
  teardown: () => void;
}

/** A client connection `a` and the connection `b` a listener accepted for it, on 127.0.0.1. */
async function loopbackPair(options: ConnectionOptions): Promise<Pair> {
  const accepted = new ReplaySubject<Connection<InetAddress>>(1);
  let listening!: (port: number) => void;
  const port = new Promise<number>((resolve, reject) => {
    listening = resolve;
    accepted.subscribe({ error: reject });
  });
  const listener = listen(loopback(), { ...options, onListening: listening }).subscribe(accepted);
  const a = await firstValueFrom(connect(toHostAndPort('127.0.0.1', await port), options));
  const b = await firstValueFrom(accepted);
  listener.unsubscribe(); // b stays open: accepted connections are the subscriber's to close
  return { a, b, teardown: () => destroyBoth(a, b) };
}

async function memoryPair(options: ConnectionOptions): Promise<Pair> {
  const [a, b] = connectionPair(options);
  return { a, b, teardown: () => destroyBoth(a, b) };
}

function destroyBoth(a: Connection, b: Connection): void {
  a.destroy();
  b.destroy();
}

const KINDS = [
  ['a loopback socket', loopbackPair],
  ['connectionPair', memoryPair],
] as const;

/** 16 MiB of a recognisable pattern: far past what loopback kernel buffers hold. */
const BIG = Buffer.alloc(16 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = i % 251;

/** Writes BIG in 64 KiB chunks (passed through the writer uncopied). */
function writeBig(connection: Connection): void {
  for (let offset = 0; offset < BIG.length; offset += 64 * 1024) {
    connection.writer.write(BIG.subarray(offset, offset + 64 * 1024));
  }
}

/** Subscribes to `reader`, gathering its bytes, until it completes or errors. */
function drain(connection: Connection): Promise<{ data: Buffer; error?: { code?: string } }> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) =>
    connection.reader.subscribe({
      next: (chunk) => chunks.push(chunk),
      complete: () => resolve({ data: Buffer.concat(chunks) }),
      error: (error) => resolve({ data: Buffer.concat(chunks), error }),
    }),
  );
}

interface Scenario {
  name: string;
  options?: ConnectionOptions;
  run: (a: Connection<InetAddress>, b: Connection<InetAddress>) => Promise<unknown>;
  expected: unknown;
}

const READER_BUFFER = 64 * 1024;

const SCENARIOS: Scenario[] = [
  {
    name: "half-close: the peer's FIN completes the reader, and its writer still writes",
    run: async (a, b) => {
      a.writer.write('ping ');
      a.writer.writeLine('one');
      await lastValueFrom(a.writer.close());
      const atB = Buffer.concat(await lastValueFrom(b.reader.pipe(toArray()))).toString();
      const bStillWritable = !b.writer.isClosed;
      b.writer.writeLine('pong');
      await lastValueFrom(b.writer.close());
      const atA = (await lastValueFrom(a.reader.contents())).toString();
      // Both directions finished: each connection closes by itself.
      await lastValueFrom(a.closed);
      await lastValueFrom(b.closed);
      return { atB, bStillWritable, atA };
    },
    expected: { atB: 'ping one\n', bStillWritable: true, atA: 'pong\n' },
  },
  {
    name: 'bytes that arrive before anyone reads are kept',
    run: async (a, b) => {
      a.writer.write('early bytes');
      await lastValueFrom(a.writer.flushed());
      await waitFor(() => b.reader.bytesBuffered === 11, 5000, 'bytes buffered');
      await lastValueFrom(a.writer.close());
      return (await lastValueFrom(b.reader.contents())).toString();
    },
    expected: 'early bytes',
  },
  {
    name: 'flow control: a reader that does not read pauses the peer, whose writes then wait unflushed',
    options: { readerBufferSize: READER_BUFFER, bufferAgeLimit: 'unlimited' },
    run: async (a, b) => {
      writeBig(a);
      let flushed = false;
      const flushing = lastValueFrom(a.writer.flushed()).then(() => (flushed = true));
      await waitFor(() => b.reader.bytesBuffered >= READER_BUFFER, 10_000, 'reader full');
      // The reader paused: what it holds stays bounded, and the rest waits in the writer.
      const bounded = b.reader.bytesBuffered < READER_BUFFER + 64 * 1024;
      const backedUp = a.writer.bytesToWrite > 0;
      const flushedWhilePaused = flushed;
      a.writer.close();
      const { data } = await drain(b);
      await flushing;
      return { bounded, backedUp, flushedWhilePaused, length: data.length, intact: data.equals(BIG) };
    },
    expected: { bounded: true, backedUp: true, flushedWhilePaused: false, length: BIG.length, intact: true },
  },
  {
    name: 'pushback through an echo: transfer holds bounded memory while the sender does not read',
    options: { readerBufferSize: READER_BUFFER, bufferAgeLimit: 'unlimited' },
    run: async (a, b) => {
      b.reader.transfer(b.writer).subscribe({ complete: () => b.writer.close() });
      writeBig(a);
      // a does not read: its reader fills, then b's writer backs up, then b stops reading.
      await waitFor(() => a.reader.bytesBuffered >= READER_BUFFER, 10_000, 'echo backed up');
      const bounded =
        b.writer.bytesToWrite < READER_BUFFER + 64 * 1024 &&
        b.reader.bytesBuffered < READER_BUFFER + 64 * 1024;
      a.writer.close();
      const { data } = await drain(a);
      return { bounded, length: data.length, intact: data.equals(BIG) };
    },
    expected: { bounded: true, length: BIG.length, intact: true },
  },
  {
    // Here the writer's bytes reach the OS at once, so flushed() emits as soon as transfer asks.
    name: 'transfer goes on when a chunk fills readerBufferSize and the OS takes it at once',
    options: { readerBufferSize: 1024 },
    run: async (a, b) => {
      b.reader.transfer(b.writer).subscribe({ complete: () => b.writer.close() });
      const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}`);
      for (const line of lines) a.writer.writeLine(line); // one 8.9 KB chunk at the end of the tick
      a.writer.close();
      const echoed = await lastValueFrom(a.reader.lines().pipe(toArray()));
      return echoed.join() === lines.join();
    },
    expected: true,
  },
  {
    name: 'close ordering: writer flushed and FIN sent, then the connection closed; the peer reads all, then EOF',
    run: async (a, b) => {
      const log: string[] = [];
      a.writer.closeFinished.subscribe(() => log.push('a writer closed'));
      a.closed.subscribe(() => log.push('a closed'));
      a.writer.writeLine('last words');
      const closing = lastValueFrom(a.close()).then(() => log.push('a close() done'));
      const lines = await lastValueFrom(b.reader.lines().pipe(toArray()));
      await closing;
      const bWriterOpen = !b.writer.isClosed;
      b.writer.closeFinished.subscribe(() => log.push('b writer closed'));
      await lastValueFrom(b.close());
      log.push('b close() done');
      return { log, lines, aReaderClosed: a.reader.isClosed, bWriterOpen };
    },
    expected: {
      log: ['a writer closed', 'a closed', 'a close() done', 'b writer closed', 'b close() done'],
      lines: ['last words'],
      aReaderClosed: true,
      bWriterOpen: true,
    },
  },
  {
    name: 'a reset reaches the peer as ECONNRESET after the bytes before it; writing then loses bytes',
    run: async (a, b) => {
      a.writer.write('before');
      await lastValueFrom(a.writer.flushed());
      await waitFor(() => b.reader.bytesBuffered === 6, 5000, 'bytes buffered');
      a.destroy();
      const { data, error } = await drain(b);
      await lastValueFrom(b.writer.consumerLeft);
      b.writer.write('lost');
      const writeError = await lastValueFrom(b.writer.flushed()).catch((e) => e);
      await lastValueFrom(a.closed);
      await lastValueFrom(b.closed);
      return {
        data: data.toString(),
        code: error?.code,
        writeError: writeError.name,
        bytesLost: writeError.bytesLost,
        cause: writeError.cause?.code,
      };
    },
    expected: {
      data: 'before',
      code: 'ECONNRESET',
      writeError: 'ConsumerLeftError',
      bytesLost: 4,
      cause: 'ECONNRESET',
    },
  },
  {
    // The peer's reader was paused when the reset came. Linux (libuv) then reports the bytes that
    // were waiting followed by EOF rather than ECONNRESET; connectionPair always reports the reset.
    name: 'buffer-age limit: the writer fails, the connection is reset, and the peer reads what came before',
    options: { readerBufferSize: READER_BUFFER, bufferAgeLimit: 200 },
    run: async (a, b) => {
      writeBig(a);
      const error = await lastValueFrom(a.writer.closeFinished).catch((e) => e);
      await lastValueFrom(a.closed);
      const received = await drain(b);
      const { length } = received.data;
      return {
        error: error.name,
        bytesWaiting: error.bytesWaiting > 0,
        peerEnd: received.error?.code ?? 'EOF',
        prefix: received.data.equals(BIG.subarray(0, length)),
        someReceived: length >= READER_BUFFER,
        someLost: length < BIG.length,
      };
    },
    expected: {
      error: 'BufferAgeLimitError',
      bytesWaiting: true,
      peerEnd: expect.stringMatching(/^(EOF|ECONNRESET)$/),
      prefix: true,
      someReceived: true,
      someLost: true,
    },
  },
];

describe('real sockets and connectionPair agree', () => {
  for (const scenario of SCENARIOS) {
    describe(scenario.name, () => {
      it.each(KINDS)('on %s', async (_kind, makePair) => {
        const { a, b, teardown } = await makePair(scenario.options ?? {});
        try {
          expect(await scenario.run(a, b)).toEqual(scenario.expected);
        } finally {
          teardown();
        }
      });
    });
  }
});
