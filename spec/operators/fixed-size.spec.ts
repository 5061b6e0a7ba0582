import fc from 'fast-check';
import { fixedSize, TruncatedFrameError } from 'rx-tcp/operators';
import { sizes as chunkSizes, cut, run } from '../helpers/framing';
import { testScheduler } from '../helpers/marbles';

const sizes = chunkSizes();

describe('fixedSize', () => {
  describe('marbles', () => {
    it('emits a frame whenever enough bytes are in', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-|', { a: Buffer.of(1), b: Buffer.of(2, 3, 4, 5), c: Buffer.of(6) });
        expectObservable(source.pipe(fixedSize(3))).toBe('---x-y-|', {
          x: Buffer.of(1, 2, 3),
          y: Buffer.of(4, 5, 6),
        });
        expectSubscriptions(source.subscriptions).toBe('^------!');
      });
    });

    it('unsubscribes from the source when unsubscribed early', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-a-|', { a: Buffer.of(1, 2) });
        expectObservable(source.pipe(fixedSize(2)), '^--!').toBe('-x-', { x: Buffer.of(1, 2) });
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('fails with TruncatedFrameError carrying the partial frame when the stream ends inside one', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-|', { a: Buffer.of(1, 2, 3) });
        const error = expect.objectContaining({
          name: 'TruncatedFrameError',
          partial: Buffer.of(3),
          expected: 2,
        });
        expectObservable(source.pipe(fixedSize(2))).toBe('-x-#', { x: Buffer.of(1, 2) }, error);
      });
    });

    it('passes on a source error', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('-a-#', { a: Buffer.of(1) }).pipe(fixedSize(2))).toBe('---#');
      });
    });
  });

  it('returns frames inside one chunk as views, and copies a frame spanning chunks', () => {
    const chunk = Buffer.of(1, 2, 3, 4, 5);
    const { frames } = run(fixedSize(2), [chunk, Buffer.of(6)]);
    expect(frames).toEqual([Buffer.of(1, 2), Buffer.of(3, 4), Buffer.of(5, 6)]);
    expect(frames[0].buffer).toBe(chunk.buffer);
    expect(frames[2].buffer).not.toBe(chunk.buffer);
  });

  it.each([0, -2, 1.5, Number.NaN])('refuses size %p with a RangeError quoting it', (size) => {
    expect(() => fixedSize(size)).toThrow(RangeError);
    expect(() => fixedSize(size)).toThrow(`got ${size}`);
  });

  it('refuses a size that is not a number with a TypeError', () => {
    expect(() => fixedSize('4' as unknown as number)).toThrow(TypeError);
  });

  describe('properties', () => {
    it('gives back any frames of the size, however the bytes are cut', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 20 }).chain((size) =>
            fc.tuple(
              fc.constant(size),
              fc.array(
                fc.uint8Array({ minLength: size, maxLength: size }).map((bytes) => Buffer.from(bytes)),
                { maxLength: 12 },
              ),
            ),
          ),
          sizes,
          ([size, frames], chunkSizes) => {
            const {
              frames: decoded,
              error,
              completed,
            } = run(fixedSize(size), cut(Buffer.concat(frames), chunkSizes));
            expect(error).toBeUndefined();
            expect(completed).toBe(true);
            expect(decoded).toEqual(frames);
          },
        ),
        { numRuns: 1000 },
      );
    });

    it('reports any trailing partial frame', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 20 }),
          fc.uint8Array({ maxLength: 100 }),
          sizes,
          (size, bytes, chunkSizes) => {
            const data = Buffer.from(bytes);
            const rest = data.length % size;
            const { frames, error } = run(fixedSize(size), cut(data, chunkSizes));
            expect(frames.length).toBe(Math.floor(data.length / size));
            if (rest === 0) expect(error).toBeUndefined();
            else {
              expect(error).toBeInstanceOf(TruncatedFrameError);
              expect((error as TruncatedFrameError).partial).toEqual(data.subarray(data.length - rest));
              expect((error as TruncatedFrameError).expected).toBe(size);
            }
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});
