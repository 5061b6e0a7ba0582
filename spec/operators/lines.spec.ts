import fc from 'fast-check';
import { FrameTooLongError, lines } from 'rx-tcp/operators';
import { Observable, take } from 'rxjs';
import { cut, oneByOne, run } from '../helpers/framing';
import { testScheduler } from '../helpers/marbles';

const b = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('lines', () => {
  describe('marbles', () => {
    it('emits each line when its end arrives, and the unterminated last line at completion', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b--c-|', { a: b('he'), b: b('llo\r\nwor'), c: b('ld') });
        expectObservable(source.pipe(lines())).toBe('---x----(y|)', { x: 'hello', y: 'world' });
        expectSubscriptions(source.subscriptions).toBe('^-------!');
      });
    });

    it('emits every line of one chunk in the same frame, empty lines included', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-----|', { a: b('x\n\ny\r\n') });
        expectObservable(source.pipe(lines())).toBe('-(xey)-|', { x: 'x', e: '', y: 'y' });
      });
    });

    it('unsubscribes from the source when unsubscribed early', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-|', { a: b('1\n'), b: b('2\n'), c: b('3\n') });
        expectObservable(source.pipe(lines()), '^--!').toBe('-x-', { x: '1' });
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('stops decoding and unsubscribes when the consumer takes enough', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-|', { a: b('1\n2\n3\n'), b: b('4\n') });
        expectObservable(source.pipe(lines(), take(2))).toBe('-(xy|)', { x: '1', y: '2' });
        expectSubscriptions(source.subscriptions).toBe('^!');
      });
    });

    it('passes on a source error and drops the partial line', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-#', { a: b('x\npartial') }, new Error('reset'));
        expectObservable(source.pipe(lines())).toBe('-x-#', { x: 'x' }, new Error('reset'));
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('fails with FrameTooLongError as soon as a line cannot fit, and unsubscribes', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        // `ab\r` may still be `ab` and a line ending: only the fourth byte proves the line too long.
        const source = cold('-a-b-c-|', { a: b('ab'), b: b('\r'), c: b('d') });
        const error = expect.objectContaining({ name: 'FrameTooLongError', limit: 2, bytesSeen: 3 });
        expectObservable(source.pipe(lines({ maxLineLength: 2 }))).toBe('-----#', undefined, error);
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
    });

    it('keeps separate state for each subscription', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-b-|', { a: b('one\ntw'), b: b('o\n') });
        const decoded = source.pipe(lines());
        expectObservable(decoded).toBe('-x-y-|', { x: 'one', y: 'two' });
        expectObservable(decoded, '--^').toBe('---x-y-|', { x: 'one', y: 'two' });
      });
    });
  });

  describe('input', () => {
    it('accepts strings, Buffers and plain Uint8Arrays, mixed', () => {
      const view = Uint8Array.of(0x78, 0x78, 0x63, 0x0a, 0x64).subarray(2); // 'c\nd' at offset 2
      expect(run(lines(), ['a', b('\nb'), view]).frames).toEqual(['a', 'bc', 'd']);
    });

    it('reassembles a multi-byte character cut at any byte', () => {
      for (const char of ['é', '€', '😀']) {
        const bytes = b(`a${char}\nz`);
        for (let at = 1; at < bytes.length; at++) {
          expect(run(lines(), [bytes.subarray(0, at), bytes.subarray(at)]).frames).toEqual([`a${char}`, 'z']);
        }
        expect(run(lines(), oneByOne(bytes)).frames).toEqual([`a${char}`, 'z']);
      }
    });

    it('decodes latin1 when asked, and encodes string chunks the same way', () => {
      expect(
        run(lines({ encoding: 'latin1' }), [Buffer.of(0x63, 0x61, 0x66, 0xe9, 0x0a), 'ÿ\n']).frames,
      ).toEqual(['café', 'ÿ']);
    });

    it('strips only one \\r, only before \\n, and keeps a lone \\r inside a line', () => {
      expect(run(lines(), ['a\r\r\nb\rc\n\r']).frames).toEqual(['a\r', 'b\rc', '\r']);
    });

    it('emits nothing for an empty stream, and no empty line after a final newline', () => {
      expect(run(lines(), [])).toEqual({ frames: [], error: undefined, completed: true });
      expect(run(lines(), ['', 'a\n', '']).frames).toEqual(['a']);
    });

    it('fails with a TypeError on a chunk that is neither bytes nor a string', () => {
      const { frames, error } = run(lines(), ['a\n', 42 as unknown as string]);
      expect(frames).toEqual(['a']);
      expect(error).toBeInstanceOf(TypeError);
    });
  });

  describe('limit', () => {
    const cases: [string, number, string, boolean][] = [
      // what, maxLineLength, input, passes
      ['a terminated line of exactly the limit', 4, 'abcd\n', true],
      ['one byte more', 4, 'abcde\n', false],
      ['a CRLF line of exactly the limit', 4, 'abcd\r\n', true],
      ['a CRLF line one byte over', 4, 'abcde\r\n', false],
      ['multi-byte characters filling the limit', 4, 'éé\n', true],
      ['multi-byte characters one byte over', 4, 'é€\n', false],
      ['an unterminated last line of exactly the limit', 4, 'abcd', true],
      ['an unterminated last line one byte over', 4, 'abcde', false],
      ['an unterminated last line whose \\r makes it one byte over', 4, 'abcd\r', false],
      ['the default limit, exactly', 65536, `${'x'.repeat(65536)}\n`, true],
      ['the default limit, one byte over', 65536, `${'x'.repeat(65537)}\n`, false],
    ];

    it.each(cases)('%s (limit %d)', (_, max, input, passes) => {
      const options = max === 65536 ? {} : { maxLineLength: max };
      for (const chunks of [[b(input)], oneByOne(b(`${input}`)), [b(`ok\n${input}`)]]) {
        const { frames, error } = run(lines(options), chunks);
        if (passes) {
          expect(error).toBeUndefined();
          expect(frames[frames.length - 1]).toBe(input.replace(/\r?\n$/, ''));
        } else {
          expect(error).toBeInstanceOf(FrameTooLongError);
          const { limit, bytesSeen } = error as FrameTooLongError;
          expect(limit).toBe(max);
          expect(bytesSeen).toBeGreaterThan(max);
          expect(bytesSeen).toBeLessThanOrEqual(Buffer.byteLength(input.replace(/\r?\n$/, '')));
        }
      }
    });

    it('ends an endless synchronous line after about the limit, never buffering without bound', () => {
      let produced = 0;
      const endless = new Observable<Buffer>((subscriber) => {
        while (!subscriber.closed) {
          produced += 1000;
          subscriber.next(Buffer.alloc(1000, 'a'));
        }
      });
      let error: unknown;
      endless.pipe(lines({ maxLineLength: 10_000 })).subscribe({ error: (e) => (error = e) });
      expect(error).toBeInstanceOf(FrameTooLongError);
      // The limit and the line ending's two bytes, the chunk that crossed them, and the one more chunk
      // the source emits before it sees that the decoder left.
      expect(produced).toBeLessThanOrEqual(10_000 + 2 + 2 * 1000);
    });

    it('stops an endless synchronous source once the consumer has taken enough', () => {
      let produced = 0;
      const endless = new Observable<Buffer>((subscriber) => {
        while (!subscriber.closed) {
          produced += 1;
          subscriber.next(b('line\n'));
        }
      });
      const taken: string[] = [];
      endless.pipe(lines(), take(3)).subscribe((line) => taken.push(line));
      expect(taken).toEqual(['line', 'line', 'line']);
      expect(produced).toBeLessThanOrEqual(4);
    });
  });

  describe('options', () => {
    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60])(
      'refuses maxLineLength %p with a RangeError',
      (value) => {
        expect(() => lines({ maxLineLength: value })).toThrow(RangeError);
        expect(() => lines({ maxLineLength: value })).toThrow(`got ${value}`);
      },
    );

    it('refuses a maxLineLength that is not a number with a TypeError quoting it', () => {
      expect(() => lines({ maxLineLength: '10' as unknown as number })).toThrow(TypeError);
      expect(() => lines({ maxLineLength: '10' as unknown as number })).toThrow('got "10"');
    });

    it.each(['utf16le', 'hex', 'base64'])(
      'refuses encoding %p, where \\n is not one byte of its own',
      (encoding) => {
        expect(() => lines({ encoding: encoding as 'utf8' })).toThrow(RangeError);
        expect(() => lines({ encoding: encoding as 'utf8' })).toThrow(`got "${encoding}"`);
      },
    );
  });

  describe('properties', () => {
    /** A line as `lines` gives it back: no `\n`, and no final `\r` (it would be taken for a CRLF). */
    const line = fc
      .string({ unit: 'binary', maxLength: 40 })
      .map((text) => text.replace(/\n/g, '').replace(/\r+$/, ''));

    it('gives back any lines, whatever the line endings and however the bytes are cut', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(line, fc.boolean()), { maxLength: 30 }),
          fc.option(line.filter((text) => text.length > 0)),
          fc.array(fc.integer({ min: 1, max: 13 }), { minLength: 1, maxLength: 8 }),
          (terminated, last, sizes) => {
            const text = terminated.map(([l, crlf]) => l + (crlf ? '\r\n' : '\n')).join('') + (last ?? '');
            const expected = terminated.map(([l]) => l).concat(last === null ? [] : [last]);
            const { frames, error, completed } = run(lines(), cut(b(text), sizes));
            expect(error).toBeUndefined();
            expect(completed).toBe(true);
            expect(frames).toEqual(expected);
          },
        ),
        { numRuns: 1000 },
      );
    });

    it('gives back any lines from string chunks cut anywhere between characters', () => {
      fc.assert(
        fc.property(
          fc.array(line, { maxLength: 20 }),
          fc.array(fc.nat(), { maxLength: 10 }),
          (texts, cuts) => {
            const text = texts.map((l) => `${l}\n`).join('');
            const chars = [...text];
            const points = [...new Set(cuts.map((c) => c % (chars.length + 1)))].sort((x, y) => x - y);
            const chunks = [0, ...points, chars.length]
              .slice(1)
              .map((end, i, ends) => chars.slice(i === 0 ? 0 : ends[i - 1], end).join(''));
            expect(run(lines(), chunks).frames).toEqual(texts);
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});
