import fc from 'fast-check';
import { ByteQueue } from '../../src/bytes/byte-queue';
import { sizes as chunkSizes, cut, latin1 } from '../helpers/framing';

const b = latin1;

function queueOf(...chunks: string[]): ByteQueue {
  const queue = new ByteQueue(0);
  for (const chunk of chunks) queue.push(b(chunk));
  return queue;
}

/** Every chunk the queue holds, as latin1 strings, to see where the boundaries are. */
function chunksOf(queue: ByteQueue): string[] {
  const out: string[] = [];
  queue.forEachChunk((chunk) => out.push(chunk.toString('latin1')));
  return out;
}

/** Cuts `bytes` into chunks of the given sizes, taken in turn. */

/** Bytes over a small alphabet, so that short needles occur often and across boundaries. */
const smallBytes = (maxLength: number) =>
  fc.array(fc.constantFrom(0x61, 0x62, 0x0a), { maxLength }).map((bytes) => Buffer.from(bytes));
const sizes = chunkSizes(7, 10);

describe('ByteQueue', () => {
  describe('push and length', () => {
    it('counts the bytes pushed and ignores empty chunks', () => {
      const queue = queueOf('ab', '', 'cde');
      expect(queue.length).toBe(5);
      expect(chunksOf(queue)).toEqual(['ab', 'cde']);
    });
  });

  describe('take', () => {
    it('returns a view of the chunk when the bytes lie inside it', () => {
      const chunk = b('abcdef');
      const queue = new ByteQueue(0);
      queue.push(chunk);
      const out = queue.take(3);
      expect(out.toString()).toBe('abc');
      expect(out.buffer).toBe(chunk.buffer);
      expect(out.byteOffset).toBe(chunk.byteOffset);
      expect(queue.length).toBe(3);
      expect(chunksOf(queue)).toEqual(['def']);
    });

    it('copies the bytes once when they span chunks, and leaves the rest in place', () => {
      const queue = queueOf('ab', 'cd', 'ef');
      expect(queue.take(5).toString()).toBe('abcde');
      expect(queue.length).toBe(1);
      expect(chunksOf(queue)).toEqual(['f']);
    });

    it('takes a whole chunk exactly and then nothing', () => {
      const queue = queueOf('ab', 'cd');
      expect(queue.take(2).toString()).toBe('ab');
      expect(chunksOf(queue)).toEqual(['cd']);
      expect(queue.take(0).length).toBe(0);
      expect(queue.length).toBe(2);
    });

    it('takeAll empties the queue', () => {
      const queue = queueOf('ab', 'c');
      expect(queue.takeAll().toString()).toBe('abc');
      expect(queue.length).toBe(0);
      expect(queue.takeAll().length).toBe(0);
    });
  });

  describe('takeText', () => {
    it('decodes bytes inside one chunk, and a character split across chunks', () => {
      const euro = Buffer.from('€'); // 3 bytes
      const queue = new ByteQueue(0);
      queue.push(Buffer.concat([Buffer.from('ab'), euro.subarray(0, 1)]));
      queue.push(Buffer.concat([euro.subarray(1), Buffer.from('cd')]));
      expect(queue.takeText(0, 'utf8')).toBe('');
      expect(queue.takeText(1, 'utf8')).toBe('a');
      expect(queue.takeText(4, 'utf8')).toBe('b€');
      expect(queue.length).toBe(2);
      expect(queue.takeText(2, 'utf8')).toBe('cd');
      expect(queue.length).toBe(0);
    });
  });

  describe('shift', () => {
    it('returns the rest of the first chunk, then undefined when empty', () => {
      const queue = queueOf('abc', 'de');
      queue.skip(1);
      expect(queue.shift()?.toString()).toBe('bc');
      expect(queue.shift()?.toString()).toBe('de');
      expect(queue.shift()).toBeUndefined();
      expect(queue.length).toBe(0);
    });
  });

  describe('small chunks', () => {
    it('are gathered when they arrive in a row: a byte per packet costs no Buffer per byte', () => {
      const queue = new ByteQueue();
      for (let i = 0; i < 100_000; i++) queue.push(Buffer.of(i & 0xff));
      expect(queue.length).toBe(100_000);
      expect(chunksOf(queue).length).toBeLessThanOrEqual(2 * Math.ceil(100_000 / 4096) + 1);
      const all = queue.take(100_000);
      expect(all.every((byte, i) => byte === (i & 0xff))).toBe(true);
    });

    it('are kept as they came when alone, or after a large one', () => {
      const queue = new ByteQueue();
      const small = b('ab');
      queue.push(small);
      expect(queue.shift()).toBe(small);
      const large = Buffer.alloc(600, 'x');
      queue.push(large);
      queue.push(small);
      expect(queue.shift()).toBe(large);
      expect(queue.shift()).toBe(small);
    });

    it('never change bytes already handed out', () => {
      const queue = new ByteQueue();
      queue.push(b('ab'));
      queue.push(b('cd'));
      const view = queue.take(3);
      queue.push(b('ef'));
      queue.push(b('gh'));
      expect(view.toString()).toBe('abc');
      expect(queue.take(5).toString()).toBe('defgh');
    });
  });

  describe('skip', () => {
    it('discards bytes across chunks', () => {
      const queue = queueOf('ab', 'cd', 'ef');
      queue.skip(3);
      expect(queue.length).toBe(3);
      expect(chunksOf(queue)).toEqual(['d', 'ef']);
      queue.skip(0);
      expect(queue.length).toBe(3);
    });
  });

  describe('byteAt', () => {
    it('reads across chunks, relative to what was already removed', () => {
      const queue = queueOf('ab', 'c', 'def');
      queue.skip(1);
      expect([0, 1, 2, 3, 4].map((i) => String.fromCharCode(queue.byteAt(i)))).toEqual([
        'b',
        'c',
        'd',
        'e',
        'f',
      ]);
    });
  });

  describe('peek and text', () => {
    it('return a view of the chunk when the bytes lie inside it, without removing them', () => {
      const chunk = Buffer.alloc(6, 'abcdef');
      const queue = new ByteQueue(0);
      queue.push(chunk);
      queue.skip(1);
      const out = queue.peek(1, 3);
      expect(out.toString()).toBe('cde');
      expect(out.buffer).toBe(chunk.buffer);
      expect(out.byteOffset).toBe(chunk.byteOffset + 2);
      expect(queue.text(1, 4, 'latin1')).toBe('cde');
      expect(queue.length).toBe(5);
      expect(chunksOf(queue)).toEqual(['bcdef']);
    });

    it('copy bytes spanning chunks once, and decode a character cut between them', () => {
      const euro = Buffer.from('€');
      const queue = new ByteQueue(0);
      for (const chunk of [
        b('x'),
        euro.subarray(0, 1),
        euro.subarray(1, 2),
        Buffer.concat([euro.subarray(2), b('y')]),
      ]) {
        queue.push(chunk);
      }
      expect(queue.peek(0, 5)).toEqual(Buffer.concat([b('x'), euro, b('y')]));
      expect(queue.text(1, 4, 'utf8')).toBe('€');
      expect(queue.text(2, 2, 'utf8')).toBe('');
      expect(queue.peek(3, 0).length).toBe(0);
      expect(queue.length).toBe(5);
    });

    it('skip past bytes that were peeked across many chunks lands on the right byte', () => {
      const queue = new ByteQueue(0);
      for (let i = 0; i < 100; i++) queue.push(Buffer.of(i));
      expect([...queue.peek(10, 50)]).toEqual(Array.from({ length: 50 }, (_, i) => i + 10));
      queue.skip(60);
      expect(queue.length).toBe(40);
      expect(queue.byteAt(0)).toBe(60);
      expect(chunksOf(queue).length).toBe(40);
      queue.skip(40);
      expect(queue.length).toBe(0);
      queue.push(b('z'));
      expect(queue.byteAt(0)).toBe(0x7a);
    });
  });

  describe('indexOf', () => {
    it('finds a byte given as a number, and a needle given as a plain Uint8Array', () => {
      const queue = queueOf('ab', 'cd');
      expect(queue.indexOf(0x63)).toBe(2);
      expect(queue.indexOf(0x63, 3)).toBe(-1);
      expect(queue.indexOf(Uint8Array.of(0x62, 0x63))).toBe(1);
    });

    it('finds a needle inside one chunk', () => {
      expect(queueOf('xx', 'abcd').indexOf(b('bc'))).toBe(3);
    });

    it('finds a needle straddling two chunks', () => {
      expect(queueOf('xxa', 'bx').indexOf(b('ab'))).toBe(2);
    });

    it('finds a needle straddling chunks shorter than itself', () => {
      expect(queueOf('xa', 'b', 'c', 'dx').indexOf(b('abcd'))).toBe(1);
    });

    it('returns -1 for a needle that only begins at the end', () => {
      expect(queueOf('xx', 'ab').indexOf(b('abc'))).toBe(-1);
    });

    it('honours from, also inside a straddling match', () => {
      const queue = queueOf('ab', 'ab', 'ab');
      expect(queue.indexOf(b('ba'), 0)).toBe(1);
      expect(queue.indexOf(b('ba'), 2)).toBe(3);
      expect(queue.indexOf(b('ba'), 4)).toBe(-1);
      expect(queue.indexOf(b('ab'), 7)).toBe(-1);
    });

    it('counts positions from the bytes still held', () => {
      const queue = queueOf('a\n', 'b\n');
      queue.skip(2);
      expect(queue.indexOf(b('\n'))).toBe(1);
    });

    it('treats the empty needle as found at from', () => {
      expect(queueOf('abc').indexOf(b(''), 2)).toBe(2);
      expect(queueOf('abc').indexOf(b(''), 4)).toBe(-1);
    });

    it('resumes a failed search once more bytes arrive', () => {
      const queue = queueOf('xxxx');
      const needle = b('\r\n\r\n');
      let from = 0;
      for (const chunk of ['\r', '\n', '\r', 'x', '\r\n\r', '\n']) {
        expect(queue.indexOf(needle, from)).toBe(-1);
        from = Math.max(0, queue.length - needle.length + 1);
        queue.push(b(chunk));
      }
      expect(queue.indexOf(needle, from)).toBe(8); // after "xxxx\r\n\rx"
    });

    it('stays correct after the queue compacts its chunk list', () => {
      const queue = new ByteQueue(0);
      for (let i = 0; i < 3000; i++) queue.push(b(i % 3 === 2 ? '\n' : 'x'));
      let from = 0;
      for (let line = 0; line < 1000; line++) {
        const at = queue.indexOf(b('\n'), from);
        expect(at).toBe(2);
        queue.skip(at + 1);
        from = 0;
      }
      expect(queue.length).toBe(0);
    });
  });

  describe('clear', () => {
    it('drops everything and forgets the last search', () => {
      const queue = queueOf('ab', 'cd');
      expect(queue.indexOf(b('x'))).toBe(-1);
      queue.clear();
      expect(queue.length).toBe(0);
      queue.push(b('xy'));
      expect(queue.indexOf(b('y'), 0)).toBe(1);
    });
  });

  describe('properties', () => {
    it('indexOf agrees with Buffer.concat(...).indexOf for any chunking, needle and start', () => {
      fc.assert(
        fc.property(
          smallBytes(60),
          sizes,
          fc.integer({ min: 1, max: 5 }).chain((n) => smallBytes(n).filter((needle) => needle.length > 0)),
          fc.nat({ max: 70 }),
          fc.nat({ max: 10 }),
          (bytes, chunkSizes, needle, from, removed) => {
            const queue = new ByteQueue(0);
            for (const chunk of cut(bytes, chunkSizes)) queue.push(chunk);
            const skip = Math.min(removed, bytes.length);
            queue.skip(skip);
            const whole = bytes.subarray(skip);
            expect(queue.indexOf(needle, from)).toBe(from > whole.length ? -1 : whole.indexOf(needle, from));
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('a search resumed after each new chunk finds every needle that a whole-buffer split finds', () => {
      fc.assert(
        fc.property(smallBytes(80), sizes, smallBytes(4), (bytes, chunkSizes, needleBytes) => {
          const needle = needleBytes.length > 0 ? needleBytes : b('a');
          const queue = new ByteQueue(0);
          const found: string[] = [];
          let from = 0;
          for (const chunk of cut(bytes, chunkSizes)) {
            queue.push(chunk);
            for (let at = queue.indexOf(needle, from); at !== -1; at = queue.indexOf(needle, 0)) {
              found.push(queue.take(at).toString('latin1'));
              queue.skip(needle.length);
              from = 0;
            }
            from = Math.max(0, queue.length - needle.length + 1);
          }
          const expected = bytes.toString('latin1').split(needle.toString('latin1'));
          expected.pop();
          expect(found).toEqual(expected);
        }),
        { numRuns: 1000 },
      );
    });

    type Op =
      | { op: 'push'; bytes: Buffer }
      | { op: 'take' | 'takeText' | 'skip' | 'byteAt' | 'indexOf'; n: number; needle: Buffer }
      | { op: 'peek' | 'text' | 'indexOfByte'; n: number; m: number }
      | { op: 'shift' | 'clear' };

    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: smallBytes(8).map((bytes): Op => ({ op: 'push', bytes })) },
      {
        weight: 4,
        arbitrary: fc.record({
          op: fc.constantFrom(
            'take' as const,
            'takeText' as const,
            'skip' as const,
            'byteAt' as const,
            'indexOf' as const,
          ),
          n: fc.nat({ max: 20 }),
          needle: smallBytes(3),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constantFrom('peek' as const, 'text' as const, 'indexOfByte' as const),
          n: fc.nat({ max: 20 }),
          m: fc.nat({ max: 20 }),
        }),
      },
      { weight: 1, arbitrary: fc.constantFrom<Op>({ op: 'shift' }, { op: 'clear' }) },
    );

    it.each([0, 4, undefined])(
      'behaves as one flat buffer under any sequence of operations, counting the bytes removed (gathering below %s)',
      (gatherBelow) => {
        fc.assert(
          fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
            const queue = new ByteQueue(gatherBelow);
            let model = Buffer.alloc(0);
            /** Bytes removed so far, by any operation. */
            let removed = 0;
            const drop = (n: number) => {
              model = model.subarray(n);
              removed += n;
            };
            /** What the queue handed out, and a copy made then: later pushes must not change it. */
            const handed: [Buffer, Buffer][] = [];
            const keep = (bytes: Buffer) => {
              handed.push([bytes, Buffer.from(bytes)]);
              return bytes;
            };
            for (const step of ops) {
              switch (step.op) {
                case 'push':
                  queue.push(step.bytes);
                  model = Buffer.concat([model, step.bytes]);
                  break;
                case 'take': {
                  const n = Math.min(step.n, model.length);
                  expect(keep(queue.take(n))).toEqual(model.subarray(0, n));
                  drop(n);
                  break;
                }
                case 'takeText': {
                  const n = Math.min(step.n, model.length);
                  expect(queue.takeText(n, 'utf8')).toBe(model.subarray(0, n).toString('utf8'));
                  drop(n);
                  break;
                }
                case 'skip': {
                  const n = Math.min(step.n, model.length);
                  queue.skip(n);
                  drop(n);
                  break;
                }
                case 'byteAt':
                  if (model.length > 0)
                    expect(queue.byteAt(step.n % model.length)).toBe(model[step.n % model.length]);
                  break;
                case 'indexOf': {
                  const expected = step.n > model.length ? -1 : model.indexOf(step.needle, step.n);
                  expect(queue.indexOf(step.needle, step.n)).toBe(
                    step.needle.length === 0 ? Math.min(expected, step.n) : expected,
                  );
                  break;
                }
                case 'peek':
                case 'text': {
                  const start = Math.min(step.n, model.length);
                  const end = Math.min(start + step.m, model.length);
                  if (step.op === 'peek')
                    expect(keep(queue.peek(start, end - start))).toEqual(model.subarray(start, end));
                  else expect(queue.text(start, end, 'latin1')).toBe(model.toString('latin1', start, end));
                  break;
                }
                case 'indexOfByte': {
                  const byte = [0x61, 0x62, 0x0a][step.m % 3];
                  expect(queue.indexOf(byte, step.n)).toBe(
                    step.n > model.length ? -1 : model.indexOf(byte, step.n),
                  );
                  break;
                }
                case 'shift': {
                  const first = queue.shift();
                  if (model.length === 0) expect(first).toBeUndefined();
                  else {
                    expect(keep(first!).length).toBeGreaterThan(0);
                    expect(first).toEqual(model.subarray(0, first!.length));
                    drop(first!.length);
                  }
                  break;
                }
                case 'clear':
                  queue.clear();
                  drop(model.length);
                  break;
              }
              expect(queue.length).toBe(model.length);
              expect(queue.position).toBe(removed);
            }
            const rest: Buffer[] = [];
            queue.forEachChunk((chunk) => rest.push(chunk));
            expect(Buffer.concat(rest)).toEqual(model);
            for (const [bytes, copy] of handed) expect(bytes).toEqual(copy);
          }),
          { numRuns: 1000 },
        );
      },
    );
  });
});
