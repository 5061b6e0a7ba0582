import fc from 'fast-check';
import { ByteQueue } from '../../src/bytes/byte-queue';
import { ExactDecoder } from '../../src/bytes/exact-decoder';
import { FixedSizeDecoder } from '../../src/bytes/fixed-size-decoder';
import { ContentsDecoder, DelimiterDecoder, type FrameDecoder } from '../../src/bytes/frame-decoder';
import { LineDecoder } from '../../src/bytes/line-decoder';
import { FrameTooLongError, TruncatedFrameError } from '../../src/errors';
import { latin1 as b, oneByOne as bytesOneByOne, sizes as chunkSizes, cut } from '../helpers/framing';

interface Outcome<T> {
  frames: T[];
  error?: unknown;
}

/**
 * Feeds `chunks` to `decoder` as the operators do: every frame after each chunk, then `finish`.
 * `afterChunk` sees the queue each time the decoder has asked for more bytes.
 */
function drive<T>(
  decoder: FrameDecoder<T>,
  chunks: Buffer[],
  afterChunk?: (queue: ByteQueue) => void,
): Outcome<T> {
  const queue = new ByteQueue();
  const frames: T[] = [];
  try {
    for (const chunk of chunks) {
      queue.push(chunk);
      for (let frame = decoder.decode(queue); frame !== undefined; frame = decoder.decode(queue))
        frames.push(frame);
      afterChunk?.(queue);
    }
    const last = decoder.finish(queue);
    if (last !== undefined) frames.push(last);
  } catch (error) {
    return { frames, error };
  }
  return { frames };
}

const latin1 = (frames: Buffer[]) => frames.map((frame) => frame.toString('latin1'));
const oneByOne = (text: string) => bytesOneByOne(b(text));
const sizes = chunkSizes();
/** Bytes that make lines: `\n`, `\r`, ASCII, UTF-8 lead and continuation bytes, and invalid ones. */
const lineBytes = (maxLength: number) =>
  fc
    .array(
      fc.constantFrom(0x0a, 0x0d, 0x61, 0x62, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xff),
      {
        maxLength,
      },
    )
    .map((bytes) => Buffer.from(bytes));
const garbage = fc
  .array(fc.uint8Array({ maxLength: 40 }), { maxLength: 30 })
  .map((chunks) => chunks.map(Buffer.from));

describe('DelimiterDecoder', () => {
  const split = (delimiter: string, max = 100, keepDelimiter = false) =>
    new DelimiterDecoder(b(delimiter), { maxFrameLength: max, keepDelimiter });

  it('splits on the delimiter and returns an unterminated tail as is', () => {
    const { frames, error } = drive(split(';'), [b('a;;b\r;c')]);
    expect(error).toBeUndefined();
    expect(latin1(frames)).toEqual(['a', '', 'b\r', 'c']);
  });

  it('finds a delimiter cut between chunks', () => {
    const { frames } = drive(split('<>'), oneByOne('ab<>cd<'));
    expect(latin1(frames)).toEqual(['ab', 'cd<']);
  });

  it('keeps the delimiter when asked', () => {
    const { frames } = drive(split('<>', 100, true), [b('a<>'), b('<>b')]);
    expect(latin1(frames)).toEqual(['a<>', '<>', 'b']);
  });

  it('leaves the bytes after a frame in the queue for the next read', () => {
    const queue = new ByteQueue();
    queue.push(b('one;two'));
    expect(split(';').decode(queue)?.toString()).toBe('one');
    expect(queue.takeAll().toString()).toBe('two');
  });

  it('accepts a frame of exactly the limit and refuses one byte more, delimiter excluded', () => {
    expect(latin1(drive(split('<>', 3), [b('abc<>')]).frames)).toEqual(['abc']);
    const { frames, error } = drive(split('<>', 3), [b('abc<>abcd<>')]);
    expect(latin1(frames)).toEqual(['abc']);
    expect(error).toBeInstanceOf(FrameTooLongError);
    expect(error).toMatchObject({ limit: 3, bytesSeen: 4 });
  });

  it('refuses an over-long frame before its end arrives', () => {
    const seen: number[] = [];
    const { error } = drive(split('<>', 3), oneByOne('abcdefgh'), (queue) => seen.push(queue.length));
    expect(error).toMatchObject({ limit: 3, bytesSeen: 4 });
    expect(Math.max(...seen)).toBe(4); // `abc` and what may be the delimiter's first byte
  });

  it('refuses an unterminated tail over the limit at the end', () => {
    expect(drive(split(';', 2), [b('a;abc')]).error).toMatchObject({ limit: 2, bytesSeen: 3 });
  });
});

describe('ExactDecoder', () => {
  it('cuts n bytes, and reports a short read at the end', () => {
    const { frames } = drive(new ExactDecoder(3), [b('ab'), b('cdefg')]);
    expect(frames).toEqual([b('abc'), b('def'), { short: true, data: b('g') }]);
  });
});

describe('ContentsDecoder', () => {
  it('returns everything at the end, once', () => {
    expect(drive(new ContentsDecoder(), [b('ab'), b('c')]).frames).toEqual([b('abc')]);
    expect(new ContentsDecoder().finish(new ByteQueue()).length).toBe(0);
  });
});

describe('FixedSizeDecoder', () => {
  it('cuts frames of the size across chunks', () => {
    expect(latin1(drive(new FixedSizeDecoder(2), [b('a'), b('bcd'), b('e'), b('f')]).frames)).toEqual([
      'ab',
      'cd',
      'ef',
    ]);
  });

  it('fails with the partial frame when the stream ends inside one', () => {
    const { frames, error } = drive(new FixedSizeDecoder(3), [b('abcde')]);
    expect(latin1(frames)).toEqual(['abc']);
    expect(error).toBeInstanceOf(TruncatedFrameError);
    expect(error).toMatchObject({ partial: b('de'), expected: 3 });
  });
});

/**
 * Async's `read_line` the plain way, on everything fed so far: lines split on `\n` with one `\r`
 * before it stripped, each decoded on its own, an unterminated tail last; a line over `max` bytes
 * fails as soon as `max + 1` bytes besides a possible `\r` are in.
 */
function referenceLines(chunks: Buffer[], max: number, encoding: BufferEncoding = 'utf8'): Outcome<string> {
  const frames: string[] = [];
  let held = Buffer.alloc(0);
  for (const chunk of chunks) {
    held = Buffer.concat([held, chunk]);
    for (let at = held.indexOf(0x0a); at !== -1; at = held.indexOf(0x0a)) {
      const end = at > 0 && held[at - 1] === 0x0d ? at - 1 : at;
      if (end > max) return { frames, error: new FrameTooLongError(max, end) };
      frames.push(held.toString(encoding, 0, end));
      held = held.subarray(at + 1);
    }
    if (held.length - 1 > max) return { frames, error: new FrameTooLongError(max, held.length - 1) };
  }
  if (held.length > max) return { frames, error: new FrameTooLongError(max, held.length) };
  if (held.length > 0) frames.push(held.toString(encoding));
  return { frames };
}

describe('LineDecoder', () => {
  it('splits lines, strips one \\r before \\n, and returns an unterminated tail as is', () => {
    const { frames, error } = drive(new LineDecoder(100, 'latin1'), [b('a\r\r\nb\n\nc\r')]);
    expect(error).toBeUndefined();
    expect(frames).toEqual(['a\r', 'b', '', 'c\r']);
  });

  it('accepts a line of exactly the limit and refuses one byte more, ending excluded', () => {
    expect(drive(new LineDecoder(3), [b('abc\r\n')]).frames).toEqual(['abc']);
    const { frames, error } = drive(new LineDecoder(3), [b('abc\nabcd\n')]);
    expect(frames).toEqual(['abc']);
    expect(error).toBeInstanceOf(FrameTooLongError);
    expect(error).toMatchObject({ limit: 3, bytesSeen: 4 });
  });

  it('refuses an over-long line before its end arrives', () => {
    const seen: number[] = [];
    const { error } = drive(new LineDecoder(3), oneByOne('abcdefgh'), (queue) => seen.push(queue.length));
    expect(error).toMatchObject({ limit: 3, bytesSeen: 4 });
    expect(Math.max(...seen)).toBe(4); // `abc` and a possible `\r`
  });

  it('leaves the bytes after its first line in the queue', () => {
    const queue = new ByteQueue();
    queue.push(b('one\ntwo\nthree'));
    expect(new LineDecoder(100).decode(queue)).toBe('one');
    expect(queue.takeAll().toString()).toBe('two\nthree');
  });

  it('removes the bytes of each line decoded ahead only as it hands the line out', () => {
    const queue = new ByteQueue();
    const decoder = new LineDecoder(100);
    queue.push(b('a\nb\nc\r\nd\ne'));
    expect(decoder.decode(queue)).toBe('a');
    expect(decoder.decode(queue)).toBe('b'); // and decodes c and d ahead
    expect(queue.length).toBe(6);
    expect(decoder.decode(queue)).toBe('c');
    expect(queue.takeAll().toString()).toBe('d\ne');
  });

  it('hands out no line decoded ahead once the queue no longer starts with it', () => {
    const queue = new ByteQueue();
    const decoder = new LineDecoder(100);
    queue.push(b('a\nb\nc\nd\n'));
    decoder.decode(queue);
    decoder.decode(queue); // c and d decoded ahead
    queue.skip(2); // someone else read c
    expect(decoder.decode(queue)).toBe('d');
    queue.push(b('e\nf\ng\n'));
    decoder.decode(queue); // f and g decoded ahead
    queue.clear();
    expect(decoder.decode(queue)).toBeUndefined();
    const other = new ByteQueue();
    other.push(b('x\n'));
    expect(decoder.decode(other)).toBe('x');
  });

  it('decodes several lines of one chunk at once and hands them out in order', () => {
    const queue = new ByteQueue();
    const decoder = new LineDecoder(100);
    queue.push(b('a\nb\r\nc'));
    expect([decoder.decode(queue), decoder.decode(queue), decoder.decode(queue)]).toEqual([
      'a',
      'b',
      undefined,
    ]);
    expect(decoder.finish(queue)).toBe('c');
  });

  it('emits the lines before an over-long one, then fails', () => {
    const { frames, error } = drive(new LineDecoder(3), [b('x\nabc\nabcd\nz\n')]);
    expect(frames).toEqual(['x', 'abc']);
    expect(error).toMatchObject({ limit: 3, bytesSeen: 4 });
  });

  it('counts bytes, not characters, against the limit', () => {
    expect(drive(new LineDecoder(4), [Buffer.from('x\néé\n')]).frames).toEqual(['x', 'éé']);
    expect(drive(new LineDecoder(4), [Buffer.from('x\néé€\n')]).error).toMatchObject({
      limit: 4,
      bytesSeen: 7,
    });
  });

  it('decodes a single-byte encoding', () => {
    expect(drive(new LineDecoder(10, 'latin1'), [Buffer.of(0x61, 0xe9, 0x0a, 0xff, 0x0a)]).frames).toEqual([
      'aé',
      'ÿ',
    ]);
  });

  it('gives what decoding each line alone gives, frames and errors, for any bytes, chunking and limit', () => {
    fc.assert(
      fc.property(lineBytes(120), sizes, fc.integer({ min: 1, max: 12 }), (bytes, chunkSizes, max) => {
        const chunks = cut(bytes, chunkSizes);
        const actual = drive(new LineDecoder(max), chunks);
        const expected = referenceLines(chunks, max);
        expect(actual.frames).toEqual(expected.frames);
        expect(actual.error).toEqual(expected.error);
        if (expected.error !== undefined) {
          expect(actual.error).toBeInstanceOf(FrameTooLongError);
          expect(actual.error).toMatchObject({
            limit: (expected.error as FrameTooLongError).limit,
            bytesSeen: (expected.error as FrameTooLongError).bytesSeen,
          });
        }
      }),
      { numRuns: 3000 },
    );
  });

  it.each(['utf8', 'ascii', 'latin1'] as const)(
    'gives what decoding each line alone gives in %s, for any bytes and chunking, with no limit',
    (encoding) => {
      // 0x8a and 0x8d are `\n` and `\r` once ASCII decoding has dropped their high bit.
      const bytes = fc
        .array(fc.constantFrom(0x0a, 0x0d, 0x61, 0x8a, 0x8d, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff), {
          maxLength: 200,
        })
        .map((array) => Buffer.from(array));
      fc.assert(
        fc.property(bytes, sizes, (line, chunkSizes) => {
          const chunks = cut(line, chunkSizes);
          const max = Number.POSITIVE_INFINITY;
          expect(drive(new LineDecoder(max, encoding), chunks)).toEqual(
            referenceLines(chunks, max, encoding),
          );
        }),
        { numRuns: 1000 },
      );
    },
  );

  /** Mostly ASCII, now and then a multi-byte character, `\r` or U+FFFD: what decoding ahead is tuned for. */
  const mostlyAscii = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom('a', 'b', ' ', '0') },
    { weight: 1, arbitrary: fc.constantFrom('é', '€', '😀', '\r', '\uFFFD') },
  );

  it.each([
    ['any code point', fc.string({ unit: 'binary', maxLength: 30 })],
    ['mostly ASCII', fc.string({ unit: mostlyAscii, maxLength: 60 })],
  ])('gives what decoding each line alone gives on long chunks of text (decoded ahead): %s', (_, line) => {
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 60 }),
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 20, max: 120 }),
        (texts, chunkSize, max) => {
          const bytes = Buffer.from(texts.join('\n'));
          const chunks = cut(bytes, [chunkSize]);
          const actual = drive(new LineDecoder(max), chunks);
          const expected = referenceLines(chunks, max);
          expect(actual.frames).toEqual(expected.frames);
          expect(actual.error).toEqual(expected.error);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('every decoder, fed garbage', () => {
  const decoders: [string, () => FrameDecoder<unknown>, number][] = [
    // name, decoder, most bytes it may hold while waiting for more
    ['line decoder', () => new LineDecoder(16), 17],
    ['ascii line decoder', () => new LineDecoder(16, 'ascii'), 17],
    [
      'split on 3 bytes',
      () => new DelimiterDecoder(b('\r\n\r'), { maxFrameLength: 16, keepDelimiter: true }),
      18,
    ],
    ['fixed size', () => new FixedSizeDecoder(16), 15],
  ];

  it.each(decoders)(
    '%s fails only with FrameTooLongError or TruncatedFrameError and holds at most its bound',
    (_, create, bound) => {
      fc.assert(
        fc.property(garbage, (chunks) => {
          let held = 0;
          const { error } = drive(create(), chunks, (queue) => {
            held = Math.max(held, queue.length);
          });
          expect(held).toBeLessThanOrEqual(bound);
          if (error !== undefined) {
            expect([FrameTooLongError, TruncatedFrameError].some((type) => error instanceof type)).toBe(true);
            if (error instanceof FrameTooLongError) expect(error.bytesSeen).toBeGreaterThan(error.limit);
          }
        }),
        { numRuns: 500 },
      );
    },
  );
});
