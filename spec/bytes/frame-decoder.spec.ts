import fc from 'fast-check';
import { ByteQueue } from '../../src/bytes/byte-queue';
import { FixedSizeDecoder } from '../../src/bytes/fixed-size-decoder';
import {
  ContentsDecoder,
  DelimiterDecoder,
  ExactDecoder,
  type FrameDecoder,
  Utf8LineDecoder,
} from '../../src/bytes/frame-decoder';
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
  const lines = (max = 100) =>
    new DelimiterDecoder(b('\n'), { maxFrameLength: max, keepDelimiter: false, stripCarriageReturn: true });
  const split = (delimiter: string, max = 100, keepDelimiter = false) =>
    new DelimiterDecoder(b(delimiter), { maxFrameLength: max, keepDelimiter, stripCarriageReturn: false });

  it('splits lines, strips one \\r before \\n, and returns an unterminated tail as is', () => {
    const { frames, error } = drive(lines(), [b('a\r\r\nb\n\nc\r')]);
    expect(error).toBeUndefined();
    expect(latin1(frames)).toEqual(['a\r', 'b', '', 'c\r']);
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
    queue.push(b('one\ntwo'));
    expect(lines().decode(queue)?.toString()).toBe('one');
    expect(queue.takeAll().toString()).toBe('two');
  });

  it('accepts a line of exactly the limit and refuses one byte more, ending excluded', () => {
    expect(latin1(drive(lines(3), [b('abc\r\n')]).frames)).toEqual(['abc']);
    const { frames, error } = drive(lines(3), [b('abc\nabcd\n')]);
    expect(latin1(frames)).toEqual(['abc']);
    expect(error).toBeInstanceOf(FrameTooLongError);
    expect(error).toMatchObject({ limit: 3, bytesSeen: 4 });
  });

  it('refuses an over-long line before its end arrives', () => {
    const seen: number[] = [];
    const { error } = drive(lines(3), oneByOne('abcdefgh'), (queue) => seen.push(queue.length));
    expect(error).toMatchObject({ limit: 3, bytesSeen: 4 });
    expect(Math.max(...seen)).toBe(4); // `abc` and a possible `\r`
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

describe('Utf8LineDecoder', () => {
  it('gives what DelimiterDecoder on \\n with \\r stripped gives, decoded, for any bytes and chunking', () => {
    fc.assert(
      fc.property(lineBytes(120), sizes, (bytes, chunkSizes) => {
        const chunks = cut(bytes, chunkSizes);
        const expected = drive(
          new DelimiterDecoder(b('\n'), {
            maxFrameLength: Number.POSITIVE_INFINITY,
            keepDelimiter: false,
            stripCarriageReturn: true,
          }),
          chunks,
        );
        expect(drive(new Utf8LineDecoder(Number.POSITIVE_INFINITY), chunks)).toEqual({
          frames: expected.frames.map((frame) => frame.toString('utf8')),
        });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('LineDecoder', () => {
  /** What the Reader's readLine decoder makes of the same bytes, decoded line by line. */
  function reference(chunks: Buffer[], max: number): Outcome<string> {
    const decoder = new DelimiterDecoder(b('\n'), {
      maxFrameLength: max,
      keepDelimiter: false,
      stripCarriageReturn: true,
    });
    const { frames, error } = drive(decoder, chunks);
    return { frames: frames.map((frame) => frame.toString('utf8')), error };
  }

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

  it('gives what DelimiterDecoder gives, frames and errors, for any bytes, chunking and limit', () => {
    fc.assert(
      fc.property(lineBytes(120), sizes, fc.integer({ min: 1, max: 12 }), (bytes, chunkSizes, max) => {
        const chunks = cut(bytes, chunkSizes);
        const actual = drive(new LineDecoder(max), chunks);
        const expected = reference(chunks, max);
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

  /** Mostly ASCII, now and then a multi-byte character, `\r` or U+FFFD: what the batch path is tuned for. */
  const mostlyAscii = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom('a', 'b', ' ', '0') },
    { weight: 1, arbitrary: fc.constantFrom('é', '€', '😀', '\r', '\uFFFD') },
  );

  it.each([
    ['any code point', fc.string({ unit: 'binary', maxLength: 30 })],
    ['mostly ASCII', fc.string({ unit: mostlyAscii, maxLength: 60 })],
  ])('gives the same as DelimiterDecoder on long chunks of text (the batch path): %s', (_, line) => {
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 60 }),
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 20, max: 120 }),
        (texts, chunkSize, max) => {
          const bytes = Buffer.from(texts.join('\n'));
          const chunks = cut(bytes, [chunkSize]);
          const actual = drive(new LineDecoder(max), chunks);
          const expected = reference(chunks, max);
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
    [
      'lines',
      () =>
        new DelimiterDecoder(b('\n'), {
          maxFrameLength: 16,
          keepDelimiter: false,
          stripCarriageReturn: true,
        }),
      17,
    ],
    ['line decoder', () => new LineDecoder(16), 17],
    ['utf8 line decoder', () => new LineDecoder(16, 'utf8'), 17],
    [
      'split on 3 bytes',
      () =>
        new DelimiterDecoder(b('\r\n\r'), {
          maxFrameLength: 16,
          keepDelimiter: true,
          stripCarriageReturn: false,
        }),
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
