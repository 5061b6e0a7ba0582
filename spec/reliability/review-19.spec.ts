import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { lines } from 'rx-tcp/operators';
import { connectionPair } from 'rx-tcp/testing';
import { firstValueFrom, lastValueFrom, Subject, tap } from 'rxjs';
import { cleanupsAfterEach } from '../helpers/cleanups';
import { waitFor } from '../helpers/net';

// Hostile review of the re-layout d4b21f7..7c6d0c9 (issue 19). The first three tests pass on d4b21f7
// and failed on 7c6d0c9: each is a behaviour the split changed, all in the one line decoder
// (src/bytes/line-decoder.ts) that replaced the Reader's Utf8LineDecoder and the operator's
// LineDecoder, and that then decoded ahead for the Reader's reads too. The last is older.

/** A full garbage collection: V8's `gc`, exposed at run time. */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('review 19: the one line decoder', () => {
  const { add } = cleanupsAfterEach();

  // line-decoder.ts decodeAhead()/nextAhead(): once the lines decoded ahead are all handed out,
  // `ahead`, `aheadBytes` (a view of the chunk) and `finder` (its Int32Array view too) stay set
  // until the next batch or the end of the stream: an idle connection's decoder (Reader.lines(),
  // the lines() operator) pins its last chunk and a Latin-1 copy of its text. The old decoders
  // let go of it on the call that found the batch exhausted (`this.ready = NO_LINES`).
  it('lines() lets go of a chunk once it has handed out its lines', async () => {
    const gc = exposeGc();
    const source = new Subject<Buffer>();
    let count = 0;
    const subscription = source.pipe(lines()).subscribe(() => count++);
    let chunk: Buffer | undefined = Buffer.alloc(1 << 20, 'abcdefg\n'); // 131 072 whole lines
    const memory = new WeakRef(chunk.buffer);
    source.next(chunk);
    chunk = undefined;
    expect(count).toBe(131_072);
    await nextImmediate(); // a WeakRef holds its target until the end of the job that made it
    gc();
    const pinned = memory.deref() !== undefined;
    subscription.unsubscribe();
    expect(pinned).toBe(false);
  });

  // line-decoder.ts nextAhead(): a line decoded ahead is `ahead.slice(start, end)`, which V8 makes
  // a SlicedString (13 characters or more) pointing into the Latin-1 text of every line that came
  // with it. The Reader's lines() used to decode each line on its own (queue.takeUtf8), so a
  // handler keeping a line (a key-value store's value, say: examples/kv-store.ts) kept that line;
  // now it keeps the whole chunk's text, up to 64 KiB per line kept.
  it('Reader.lines(): a line kept by the handler does not keep the text of the lines that came with it', async () => {
    const gc = exposeGc();
    const count = 300_000;
    const width = 20; // 'v' and 19 digits: past V8's 13 for a sliced string
    let text: Buffer | undefined = Buffer.allocUnsafe(count * (width + 1));
    for (let i = 0; i < count; i++)
      text.write(`v${String(i).padStart(width - 1, '0')}\n`, i * (width + 1), 'latin1');

    gc();
    const before = process.memoryUsage().heapUsed;
    const [a, b] = connectionPair();
    const kept: string[] = [];
    let seen = 0;
    const done = lastValueFrom(
      a.reader.lines().pipe(
        tap((line) => {
          if (seen++ % 500 === 0) kept.push(line); // about 6 lines of every 64 KiB delivered
        }),
      ),
      { defaultValue: undefined },
    );
    for (let at = 0; at < text.length; at += 64 * 1024) b.writer.write(text.subarray(at, at + 64 * 1024));
    b.writer.close();
    await done;
    await lastValueFrom(a.close());
    await lastValueFrom(b.close());
    text = undefined;
    await nextImmediate();
    gc();
    const retained = process.memoryUsage().heapUsed - before;

    expect(seen).toBe(count);
    expect(kept.length).toBe(count / 500);
    expect(kept[1]).toBe(`v${String(500).padStart(width - 1, '0')}`);
    // 600 strings of 20 characters are a few tens of KiB; the 6.3 MB of text they came with is not theirs.
    expect(retained).toBeLessThan(2 * 1024 * 1024);
  });

  // line-decoder.ts decode(): a decoder that has cut one line decodes every whole line buffered
  // ahead (decodeAhead) each time it cuts another; the lines ahead are dropped as soon as another
  // read takes a byte (the `queue.position` check). The decoder is made by the readLine() call,
  // so a readLine() Observable subscribed again between other reads (a header line, then a body
  // read with reallyRead, as in RESP or memcached) decodes everything buffered for every line:
  // quadratic in what a peer pipelines. Utf8LineDecoder decoded the line's own bytes only.
  it('a readLine() Observable read again between other reads decodes each line once, not all that is buffered', async () => {
    const [a, b] = connectionPair();
    add(() => a.destroy());
    add(() => b.destroy());
    const n = 2000;
    b.writer.write('abc\nZ'.repeat(n)); // n headers, each followed by a 1-byte body
    await waitFor(() => a.reader.bytesBuffered === 5 * n, 5000, 'everything buffered');

    const header = a.reader.readLine();
    const headers: unknown[] = [];
    const bodies: Buffer[] = [];
    let decoded = 0;
    const proto = Buffer.prototype as { toString: (...args: unknown[]) => string };
    const originalToString = proto.toString;
    proto.toString = function (this: Buffer, ...args: unknown[]) {
      const [, start = 0, end = this.length] = args as [unknown, number?, number?];
      decoded += Math.max(0, Math.min(end, this.length) - start);
      return originalToString.apply(this, args);
    };
    try {
      for (let i = 0; i < n; i++) {
        headers.push(await firstValueFrom(header));
        bodies.push((await firstValueFrom(a.reader.reallyRead(1))) as Buffer);
      }
    } finally {
      proto.toString = originalToString;
    }
    expect(new Set(headers)).toEqual(new Set(['abc']));
    expect(Buffer.concat(bodies).toString()).toBe('Z'.repeat(n));
    // 3 bytes decoded per header: 6 000 in all. Decoding all that is buffered each time: ~10 MB.
    expect(decoded).toBeLessThan(10 * 5 * n);
  });

  // Older than the re-layout: a readLine() Observable remembered how far it had searched for `\n`
  // even after another read removed bytes, so that a later subscription started past a line end.
  it('a readLine() Observable subscribed again after another read finds the first line end', async () => {
    const [client, server] = connectionPair();
    add(() => {
      client.destroy();
      server.destroy();
    });
    const line$ = server.reader.readLine();
    client.writer.write('abc');
    const pending = line$.subscribe();
    await waitFor(() => server.reader.bytesBuffered === 3, 1000, 'abc buffered');
    pending.unsubscribe();
    expect(String(await firstValueFrom(server.reader.reallyRead(3)))).toBe('abc');
    client.writer.write('d\nefgh\n');
    // Both lines buffered before the Observable is subscribed again: it searches what is there.
    await waitFor(() => server.reader.bytesBuffered === 7, 1000, 'two lines buffered');
    expect(await firstValueFrom(line$)).toBe('d');
    expect(await firstValueFrom(line$)).toBe('efgh');
  });
});
