import fc from 'fast-check';
import { FrameTooLongError, splitOn } from 'rx-tcp/operators';
import { latin1 as b, oneByOne as bytesOneByOne, sizes as chunkSizes, cut, run } from '../helpers/framing';
import { testScheduler } from '../helpers/marbles';

const latin1 = (frames: Buffer[]) => frames.map((frame) => frame.toString('latin1'));
const oneByOne = (text: string) => bytesOneByOne(b(text));
const sizes = chunkSizes();

/** The frames of `bytes` cut on `delimiter` in one go, as a reference. */
function splitWhole(bytes: Buffer, delimiter: Buffer, keepDelimiter = false): string[] {
  const frames: string[] = [];
  let start = 0;
  for (let at = bytes.indexOf(delimiter); at !== -1; at = bytes.indexOf(delimiter, start)) {
    frames.push(bytes.toString('latin1', start, keepDelimiter ? at + delimiter.length : at));
    start = at + delimiter.length;
  }
  if (start < bytes.length) frames.push(bytes.toString('latin1', start));
  return frames;
}

describe('splitOn', () => {
  describe('marbles', () => {
    it('emits each frame when its delimiter arrives, even cut between chunks, then the tail', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-|', { a: b('one\r\n'), b: b('\r\ntwo\r'), c: b('\n\r\nthree') });
        expectObservable(source.pipe(splitOn('\r\n\r\n'))).toBe('---x-y-(z|)', {
          x: b('one'),
          y: b('two'),
          z: b('three'),
        });
        expectSubscriptions(source.subscriptions).toBe('^------!');
      });
    });

    it('unsubscribes from the source when unsubscribed early', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-|', { a: b('1;'), b: b('2;'), c: b('3;') });
        expectObservable(source.pipe(splitOn(';')), '^--!').toBe('-x-', { x: b('1') });
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('fails with FrameTooLongError once the frame cannot fit, and unsubscribes', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        // With a 2-byte delimiter, `abc;` may still be `abc` and the delimiter: only the fifth byte tells.
        const source = cold('-a-b-c-|', { a: b('abc'), b: b(';'), c: b('x') });
        const error = expect.objectContaining({ name: 'FrameTooLongError', limit: 3, bytesSeen: 4 });
        expectObservable(source.pipe(splitOn(';;', { maxFrameLength: 3 }))).toBe('-----#', undefined, error);
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
    });

    it('passes on a source error', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-#', { a: b('x;y') });
        expectObservable(source.pipe(splitOn(';'))).toBe('-x-#', { x: b('x') });
      });
    });

    it('keeps separate state for each subscription', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const decoded = cold('-a-b-|', { a: b('x;y'), b: b('y;') }).pipe(splitOn(';'));
        expectObservable(decoded).toBe('-x-y-|', { x: b('x'), y: b('yy') });
        expectObservable(decoded, '---^').toBe('----x-y-|', { x: b('x'), y: b('yy') });
      });
    });
  });

  describe('frames', () => {
    it('gives an empty frame between two delimiters, and none after a final delimiter', () => {
      expect(latin1(run(splitOn(';'), ['a;;b;']).frames)).toEqual(['a', '', 'b']);
    });

    it('keeps the delimiter when asked, the tail having none', () => {
      expect(latin1(run(splitOn('||', { keepDelimiter: true }), oneByOne('a||b||c')).frames)).toEqual([
        'a||',
        'b||',
        'c',
      ]);
    });

    it('splits on arbitrary bytes, and on a string as UTF-8', () => {
      expect(
        run(splitOn(Uint8Array.of(0, 0xff)), [Buffer.of(1, 0, 0xff, 2, 0), Buffer.of(0xff)]).frames,
      ).toEqual([Buffer.of(1), Buffer.of(2)]);
      expect(run(splitOn('€'), [Buffer.from('a€b€', 'utf8')]).frames).toEqual([b('a'), b('b')]);
    });

    it('finds overlapping candidates as a plain search does', () => {
      expect(latin1(run(splitOn('aab'), oneByOne('aaabaab')).frames)).toEqual(['a', '']);
    });

    it('is not affected by changes to the delimiter array after the call', () => {
      const delimiter = Uint8Array.of(0x3b);
      const operator = splitOn(delimiter);
      delimiter[0] = 0x2c;
      expect(latin1(run(operator, ['a;b,c']).frames)).toEqual(['a', 'b,c']);
    });
  });

  describe('limit', () => {
    it.each([
      ['a frame of exactly the limit passes', 'abcd||', 4, false, true],
      ['one byte more fails', 'abcde||', 4, false, false],
      ['the delimiter does not count with keepDelimiter', 'abcd||', 4, true, true],
      ['a tail of exactly the limit passes', 'x||abcd', 4, false, true],
      ['a tail one byte over fails', 'x||abcde', 4, false, false],
    ])('%s', (_, input, max, keepDelimiter, passes) => {
      for (const chunks of [[b(input)], oneByOne(input)]) {
        const { error, completed } = run(splitOn('||', { maxFrameLength: max, keepDelimiter }), chunks);
        if (passes) expect(completed).toBe(true);
        else {
          expect(error).toBeInstanceOf(FrameTooLongError);
          expect((error as FrameTooLongError).limit).toBe(max);
          expect((error as FrameTooLongError).bytesSeen).toBe(max + 1);
        }
      }
    });

    it('defaults to 16 MiB', () => {
      const frame = Buffer.alloc(16 * 1024 * 1024, 'a');
      expect(run(splitOn(';'), [frame, b(';')]).frames[0].length).toBe(frame.length);
      expect(run(splitOn(';'), [frame, b('a;')]).error).toMatchObject({ limit: frame.length });
    });
  });

  describe('options', () => {
    it.each([
      ['', RangeError],
      [new Uint8Array(0), RangeError],
      [5, TypeError],
      [null, TypeError],
    ])('refuses the delimiter %p', (delimiter, type) => {
      expect(() => splitOn(delimiter as string)).toThrow(type);
    });

    it('quotes the bad value', () => {
      expect(() => splitOn(';', { maxFrameLength: -3 })).toThrow(
        'splitOn: maxFrameLength must be an integer from 1',
      );
      expect(() => splitOn(';', { maxFrameLength: -3 })).toThrow('got -3');
      expect(() => splitOn(';', { keepDelimiter: 'yes' as unknown as boolean })).toThrow(TypeError);
      expect(() => splitOn(';', { keepDelimiter: 'yes' as unknown as boolean })).toThrow('got "yes"');
    });
  });

  describe('properties', () => {
    /** Bytes over a small alphabet, so that delimiters and their prefixes occur often. */
    const small = (minLength: number, maxLength: number) =>
      fc
        .array(fc.constantFrom(0x61, 0x62, 0x0a), { minLength, maxLength })
        .map((bytes) => Buffer.from(bytes));

    it('gives back any frames, with a multi-byte delimiter, however the bytes are cut', () => {
      fc.assert(
        fc.property(
          small(1, 4),
          fc.array(small(0, 12), { maxLength: 15 }),
          fc.boolean(),
          sizes,
          (delimiter, frames, terminated, chunkSizes) => {
            const pieces = frames.flatMap((frame, i) =>
              i < frames.length - 1 || terminated ? [frame, delimiter] : [frame],
            );
            const bytes = Buffer.concat(pieces);
            const expected = frames.map((frame) => frame.toString('latin1'));
            if (!terminated && frames.length > 0 && frames[frames.length - 1].length === 0) expected.pop();
            // Only frames that the delimiter, searched from the left, cuts back apart are a fair test.
            fc.pre(JSON.stringify(splitWhole(bytes, delimiter)) === JSON.stringify(expected));
            const { frames: actual, completed } = run(splitOn(delimiter), cut(bytes, chunkSizes));
            expect(completed).toBe(true);
            expect(latin1(actual)).toEqual(expected);
          },
        ),
        { numRuns: 1000 },
      );
    });

    it('cuts any bytes as a search over the whole stream does, keeping the delimiter or not', () => {
      fc.assert(
        fc.property(small(0, 80), small(1, 5), sizes, fc.boolean(), (bytes, delimiter, chunkSizes, keep) => {
          const { frames } = run(splitOn(delimiter, { keepDelimiter: keep }), cut(bytes, chunkSizes));
          expect(latin1(frames)).toEqual(splitWhole(bytes, delimiter, keep));
        }),
        { numRuns: 1000 },
      );
    });
  });
});
