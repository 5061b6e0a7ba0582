import fc from 'fast-check';
import { encodeLengthPrefixed, FrameTooLongError } from 'rx-tcp/operators';
import { from, of } from 'rxjs';
import { testScheduler } from '../helpers/marbles';

describe('encodeLengthPrefixed', () => {
  describe('one frame', () => {
    it('prefixes a 4-byte big-endian length by default', () => {
      expect(encodeLengthPrefixed(Uint8Array.of(7, 8, 9))).toEqual(Buffer.of(0, 0, 0, 3, 7, 8, 9));
    });

    it.each([
      [1, 'big', [2]],
      [2, 'big', [0, 2]],
      [2, 'little', [2, 0]],
      [4, 'little', [2, 0, 0, 0]],
    ] as const)('writes a %d-byte %s-endian header', (headerBytes, endian, header) => {
      expect(encodeLengthPrefixed(Uint8Array.of(0xaa, 0xbb), { headerBytes, endian })).toEqual(
        Buffer.of(...header, 0xaa, 0xbb),
      );
    });

    it('encodes a string payload as UTF-8, counting its bytes', () => {
      expect(encodeLengthPrefixed('é', { headerBytes: 1 })).toEqual(Buffer.of(2, 0xc3, 0xa9));
    });

    it('encodes an empty payload as a bare header', () => {
      expect(encodeLengthPrefixed(new Uint8Array(0), { headerBytes: 2 })).toEqual(Buffer.of(0, 0));
    });

    it('copies the payload, so the caller may reuse it', () => {
      const payload = Uint8Array.of(1, 2);
      const encoded = encodeLengthPrefixed(payload, { headerBytes: 1 });
      payload[0] = 9;
      expect(encoded).toEqual(Buffer.of(2, 1, 2));
    });

    it('throws FrameTooLongError at exactly one byte over the limit', () => {
      expect(encodeLengthPrefixed(Buffer.alloc(10), { maxFrameLength: 10 }).length).toBe(14);
      expect(() => encodeLengthPrefixed(Buffer.alloc(11), { maxFrameLength: 10 })).toThrow(FrameTooLongError);
    });

    it.each([
      [1, 255],
      [2, 65535],
    ] as const)('refuses what a %d-byte header cannot count (more than %d bytes)', (headerBytes, most) => {
      expect(encodeLengthPrefixed(Buffer.alloc(most), { headerBytes }).length).toBe(headerBytes + most);
      let error: unknown;
      try {
        encodeLengthPrefixed(Buffer.alloc(most + 1), { headerBytes });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(FrameTooLongError);
      expect(error).toMatchObject({ limit: most, bytesSeen: most + 1 });
    });
  });

  describe('operator', () => {
    it('encodes each payload in turn', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-|', { a: Buffer.from('hi'), b: 'é' });
        expectObservable(source.pipe(encodeLengthPrefixed({ headerBytes: 1 }))).toBe('-x-y-|', {
          x: Buffer.of(2, 0x68, 0x69),
          y: Buffer.of(2, 0xc3, 0xa9),
        });
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
    });

    it('fails with FrameTooLongError on a payload over the limit, and unsubscribes', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-|', { a: Buffer.alloc(3), b: Buffer.alloc(4) });
        const error = expect.objectContaining({ name: 'FrameTooLongError', limit: 3, bytesSeen: 4 });
        expectObservable(source.pipe(encodeLengthPrefixed({ maxFrameLength: 3 }))).toBe(
          '-x-#',
          { x: Buffer.of(0, 0, 0, 3, 0, 0, 0) },
          error,
        );
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('unsubscribes from the source when unsubscribed early', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-a-|', { a: 'x' });
        expectObservable(source.pipe(encodeLengthPrefixed({ headerBytes: 1 })), '^--!').toBe('-x-', {
          x: Buffer.of(1, 0x78),
        });
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('gives the same bytes as the one-frame form', () => {
      fc.assert(
        fc.property(
          fc.array(fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.string({ maxLength: 30 })), {
            maxLength: 10,
          }),
          fc.constantFrom<1 | 2 | 4>(1, 2, 4),
          fc.constantFrom<'big' | 'little'>('big', 'little'),
          (payloads, headerBytes, endian) => {
            const options = { headerBytes, endian };
            const encoded: Buffer[] = [];
            from(payloads)
              .pipe(encodeLengthPrefixed(options))
              .subscribe((frame) => encoded.push(frame));
            expect(encoded).toEqual(payloads.map((payload) => encodeLengthPrefixed(payload, options)));
          },
        ),
      );
    });

    it('uses the defaults when called with nothing', () => {
      const encoded: Buffer[] = [];
      of(Uint8Array.of(1))
        .pipe(encodeLengthPrefixed())
        .subscribe((frame) => encoded.push(frame));
      expect(encoded).toEqual([Buffer.of(0, 0, 0, 1, 1)]);
    });
  });

  describe('options', () => {
    it('refuses bad options at the call, in both forms, quoting the value', () => {
      expect(() => encodeLengthPrefixed({ headerBytes: 8 as 4 })).toThrow(RangeError);
      expect(() => encodeLengthPrefixed({ headerBytes: 8 as 4 })).toThrow('got 8');
      expect(() => encodeLengthPrefixed('x', { endian: 'BIG' as 'big' })).toThrow('got "BIG"');
      expect(() => encodeLengthPrefixed('x', { maxFrameLength: -1 })).toThrow(RangeError);
    });
  });
});
