import fc from 'fast-check';
import {
  encodeLengthPrefixed,
  FrameTooLongError,
  type LengthPrefixedOptions,
  lengthPrefixed,
  TruncatedFrameError,
} from 'rx-tcp/operators';
import { sizes as chunkSizes, cut, run } from '../helpers/framing';
import { testScheduler } from '../helpers/marbles';

const sizes = chunkSizes();
const format = fc.record({
  headerBytes: fc.constantFrom<1 | 2 | 4>(1, 2, 4),
  endian: fc.constantFrom<'big' | 'little'>('big', 'little'),
});
const payloads = fc.array(
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  { maxLength: 12 },
);

describe('lengthPrefixed', () => {
  describe('marbles', () => {
    it('emits each payload once it is complete, the header cut between chunks', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-----c-|', {
          a: Buffer.of(0),
          b: Buffer.of(2, 0x68, 0x69, 0, 0, 0),
          c: Buffer.of(1, 0x21),
        });
        expectObservable(source.pipe(lengthPrefixed({ headerBytes: 2 }))).toBe('---(xy)--c-|', {
          x: Buffer.from('hi'),
          y: Buffer.alloc(0),
          c: Buffer.from('!'),
        });
        expectSubscriptions(source.subscriptions).toBe('^----------!');
      });
    });

    it('unsubscribes from the source when unsubscribed early', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-|', { a: Buffer.of(1, 0x61), b: Buffer.of(1, 0x62) });
        expectObservable(source.pipe(lengthPrefixed({ headerBytes: 1 })), '^--!').toBe('-x-', {
          x: Buffer.from('a'),
        });
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('refuses a 4 GiB length as soon as the header is in, before any payload', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-|', {
          a: Buffer.of(0xff, 0xff),
          b: Buffer.of(0xff, 0xff),
          c: Buffer.of(0),
        });
        const error = expect.objectContaining({
          name: 'FrameTooLongError',
          limit: 16 * 1024 * 1024,
          bytesSeen: 0xffffffff,
        });
        expectObservable(source.pipe(lengthPrefixed())).toBe('---#', undefined, error);
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('fails with TruncatedFrameError when the stream ends inside a frame', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-|', { a: Buffer.of(0, 0, 0, 3, 0x61) });
        const error = expect.objectContaining({
          name: 'TruncatedFrameError',
          partial: Buffer.of(0, 0, 0, 3, 0x61),
          expected: 7,
        });
        expectObservable(source.pipe(lengthPrefixed())).toBe('---#', undefined, error);
      });
    });
  });

  describe('limit', () => {
    it.each([1, 2, 4] as const)(
      'accepts a payload of exactly the limit and refuses one more (%d-byte header)',
      (headerBytes) => {
        const max = 200;
        const options = { headerBytes, maxFrameLength: max };
        const exact = encodeLengthPrefixed(Buffer.alloc(max), options);
        expect(run(lengthPrefixed(options), [exact]).frames).toEqual([Buffer.alloc(max)]);
        const over = encodeLengthPrefixed(Buffer.alloc(max + 1), { ...options, maxFrameLength: max + 1 });
        const { error } = run(lengthPrefixed(options), [over.subarray(0, headerBytes)]);
        expect(error).toBeInstanceOf(FrameTooLongError);
        expect(error).toMatchObject({ limit: max, bytesSeen: max + 1 });
      },
    );
  });

  describe('truncated input', () => {
    it('reports a header cut short without an expected length', () => {
      const { frames, error } = run(lengthPrefixed(), [Buffer.of(0, 0, 0, 1, 0x61, 0, 0)]);
      expect(frames).toEqual([Buffer.from('a')]);
      expect(error).toBeInstanceOf(TruncatedFrameError);
      expect((error as TruncatedFrameError).partial).toEqual(Buffer.of(0, 0));
      expect((error as TruncatedFrameError).expected).toBeUndefined();
    });

    it('reports any frame cut short with the bytes that came, header included', () => {
      fc.assert(
        fc.property(
          format,
          payloads,
          fc.uint8Array({ minLength: 1, maxLength: 40 }),
          fc.nat(),
          sizes,
          (options, before, last, at, chunkSizes) => {
            const complete = Buffer.concat(before.map((payload) => encodeLengthPrefixed(payload, options)));
            const lastFrame = encodeLengthPrefixed(last, options);
            const partial = lastFrame.subarray(0, 1 + (at % (lastFrame.length - 1)));
            const { frames, error } = run(
              lengthPrefixed(options),
              cut(Buffer.concat([complete, partial]), chunkSizes),
            );
            expect(frames).toEqual(before);
            expect(error).toBeInstanceOf(TruncatedFrameError);
            expect((error as TruncatedFrameError).partial).toEqual(partial);
            expect((error as TruncatedFrameError).expected).toBe(
              partial.length < options.headerBytes ? undefined : lastFrame.length,
            );
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe('options', () => {
    it.each<[LengthPrefixedOptions, ErrorConstructor, string]>([
      [{ headerBytes: 3 as 1 }, RangeError, 'got 3'],
      [{ headerBytes: '4' as unknown as 4 }, TypeError, 'got "4"'],
      [{ endian: 'middle' as 'big' }, RangeError, 'got "middle"'],
      [{ maxFrameLength: 0 }, RangeError, 'got 0'],
      [{ maxFrameLength: 2.5 }, RangeError, 'got 2.5'],
    ])('refuses %p at the call', (options, type, quoted) => {
      expect(() => lengthPrefixed(options)).toThrow(type);
      expect(() => lengthPrefixed(options)).toThrow(quoted);
    });
  });

  describe('properties', () => {
    it('decodes what encodeLengthPrefixed encodes, for every header size and byte order, however cut', () => {
      fc.assert(
        fc.property(format, payloads, sizes, (options, frames, chunkSizes) => {
          const bytes = Buffer.concat(frames.map((payload) => encodeLengthPrefixed(payload, options)));
          const { frames: decoded, error, completed } = run(lengthPrefixed(options), cut(bytes, chunkSizes));
          expect(error).toBeUndefined();
          expect(completed).toBe(true);
          expect(decoded).toEqual(frames);
        }),
        { numRuns: 1000 },
      );
    });

    it('on random bytes, emits only frames within the limit and fails only with its two errors', () => {
      fc.assert(
        fc.property(
          format,
          fc.array(
            fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
            { maxLength: 8 },
          ),
          (options, chunks) => {
            const { frames, error } = run(lengthPrefixed({ ...options, maxFrameLength: 16 }), chunks);
            for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(16);
            if (error !== undefined) {
              expect(error instanceof FrameTooLongError || error instanceof TruncatedFrameError).toBe(true);
            }
          },
        ),
        { numRuns: 500 },
      );
    });

    it('refuses any length over the limit as soon as the header is in', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 17, max: 0xffffffff }),
          fc.constantFrom<'big' | 'little'>('big', 'little'),
          (length, endian) => {
            const header = Buffer.alloc(4);
            if (endian === 'big') header.writeUInt32BE(length);
            else header.writeUInt32LE(length);
            const { error } = run(lengthPrefixed({ headerBytes: 4, endian, maxFrameLength: 16 }), [header]);
            expect(error).toBeInstanceOf(FrameTooLongError);
            expect(error).toMatchObject({ limit: 16, bytesSeen: length });
          },
        ),
      );
    });

    it('decodes frames longer than one byte can count, across many chunks', () => {
      fc.assert(
        fc.property(
          fc.constantFrom<2 | 4>(2, 4),
          fc.constantFrom<'big' | 'little'>('big', 'little'),
          fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 4 }),
          fc.integer({ min: 1, max: 700 }),
          (headerBytes, endian, lengths, chunkSize) => {
            const options = { headerBytes, endian };
            const frames = lengths.map((length, i) => Buffer.alloc(length, i + 1));
            const bytes = Buffer.concat(frames.map((payload) => encodeLengthPrefixed(payload, options)));
            expect(run(lengthPrefixed(options), cut(bytes, [chunkSize])).frames).toEqual(frames);
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
