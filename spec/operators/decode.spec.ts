import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import {
  type DecodeCursor,
  type DecodeStep,
  decode,
  FrameTooLongError,
  TruncatedFrameError,
} from 'rx-tcp/operators';
import { config, from, Observable, Subject, type Subscriber, type Subscription, take } from 'rxjs';
import { latin1 as b, sizes as chunkSizes, cut, oneByOne, run } from '../helpers/framing';
import { testScheduler } from '../helpers/marbles';

const sizes = chunkSizes();

/** One-byte length, then that many bytes. */
const byteCounted: DecodeStep<Buffer> = (cursor) => {
  if (cursor.length === 0) return undefined;
  const length = cursor.byteAt(0);
  if (cursor.length < 1 + length) return undefined;
  cursor.skip(1);
  return cursor.read(length);
};

type Resp = { simple: string } | { integer: number } | { bulk: Buffer };

/** A subset of RESP: `+text\r\n`, `:123\r\n` and `$<length>\r\n<bytes>\r\n`. */
const resp: DecodeStep<Resp> = (cursor) => {
  const line = cursor.readLine('latin1');
  if (line === undefined) return undefined;
  const rest = line.slice(1);
  switch (line[0]) {
    case '+':
      return { simple: rest };
    case ':':
      return { integer: Number(rest) };
    case '$': {
      const length = Number(rest);
      if (!Number.isInteger(length) || length < 0) throw new Error(`bad bulk length ${JSON.stringify(rest)}`);
      const bulk = cursor.read(length);
      if (bulk === undefined || cursor.length < 2) return undefined;
      if (cursor.byteAt(0) !== 0x0d || cursor.byteAt(1) !== 0x0a)
        throw new Error('bulk string without \\r\\n');
      cursor.skip(2);
      return { bulk: Buffer.from(bulk) };
    }
    default:
      throw new Error(`unknown type ${JSON.stringify(line[0])}`);
  }
};

function encodeResp(frame: Resp): Buffer {
  if ('simple' in frame) return b(`+${frame.simple}\r\n`);
  if ('integer' in frame) return b(`:${frame.integer}\r\n`);
  return Buffer.concat([b(`$${frame.bulk.length}\r\n`), frame.bulk, b('\r\n')]);
}

/**
 * Runs `decode` over `chunks` with a step that waits for the end of the stream, then calls `look`
 * once with every byte buffered (in the chunks as they came), then consumes whatever is left.
 */
function probe(chunks: Buffer[], look: (cursor: DecodeCursor) => void) {
  return run(
    decode((cursor) => {
      if (!cursor.ended) return undefined;
      look(cursor);
      return cursor.read(cursor.length);
    }),
    chunks,
  );
}

/** What `config.onUnhandledError` receives while `body` runs, and after a macrotask. */
async function unhandledDuring(body: () => void): Promise<unknown[]> {
  const unhandled: unknown[] = [];
  const saved = config.onUnhandledError;
  config.onUnhandledError = (error) => unhandled.push(error);
  try {
    body();
    await new Promise((resolve) => setTimeout(resolve, 5));
  } finally {
    config.onUnhandledError = saved;
  }
  return unhandled;
}

/** A full garbage collection, without starting node with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('decode', () => {
  describe('marbles', () => {
    it('emits each frame once its last byte is in, however the frames are cut', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b--c-----|', {
          a: b('$5\r\nhe'),
          b: b('llo\r'),
          c: b('\n+OK\r\n:4'),
        });
        const truncated = expect.objectContaining({ name: 'TruncatedFrameError', partial: b(':4') });
        expectObservable(source.pipe(decode(resp))).toBe(
          '------(xy)--#',
          { x: { bulk: b('hello') }, y: { simple: 'OK' } },
          truncated,
        );
        expectSubscriptions(source.subscriptions).toBe('^-----------!');
      });
    });

    it('emits every frame of one chunk at once, and completes with the source', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-----|', { a: Buffer.of(1, 0x61, 0, 2, 0x62, 0x63) });
        expectObservable(source.pipe(decode(byteCounted))).toBe('-(xyz)-|', {
          x: b('a'),
          y: Buffer.alloc(0),
          z: b('bc'),
        });
      });
    });

    it('unsubscribes from the source when unsubscribed early', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-a-|', { a: Buffer.of(1, 0x61) });
        expectObservable(source.pipe(decode(byteCounted)), '^--!').toBe('-x-', { x: b('a') });
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('stops calling step as soon as take(n) has enough', () => {
      let calls = 0;
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const counting: DecodeStep<Buffer> = (cursor) => {
          calls++;
          return byteCounted(cursor);
        };
        const source = cold('-a-a-|', { a: Buffer.of(1, 0x61, 1, 0x62, 1, 0x63) });
        expectObservable(source.pipe(decode(counting), take(2))).toBe('-(xy|)', { x: b('a'), y: b('b') });
        expectSubscriptions(source.subscriptions).toBe('^!');
      });
      expect(calls).toBe(2);
    });

    it('passes on a source error and drops the partial frame', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-#', { a: Buffer.of(1, 0x61, 3, 0x62) }, new Error('reset'));
        expectObservable(source.pipe(decode(byteCounted))).toBe('-x-#', { x: b('a') }, new Error('reset'));
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('fails with TruncatedFrameError carrying the bytes left when the source ends inside a frame', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-b-|', { a: Buffer.of(1, 0x61, 3), b: Buffer.of(0x62) });
        const error = expect.objectContaining({ name: 'TruncatedFrameError', partial: Buffer.of(3, 0x62) });
        expectObservable(source.pipe(decode(byteCounted))).toBe('-x---#', { x: b('a') }, error);
      });
    });

    it('calls step with ended at completion, for a tail only the end of the stream terminates', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const lineOrTail: DecodeStep<string> = (cursor) =>
          cursor.readLine() ?? (cursor.ended ? cursor.read(cursor.length)!.toString() : undefined);
        const source = cold('-a-b-|', { a: b('one\ntw'), b: b('o\nthree') });
        expectObservable(source.pipe(decode(lineOrTail))).toBe('-x-y-(z|)', {
          x: 'one',
          y: 'two',
          z: 'three',
        });
      });
    });

    it('fails with FrameTooLongError once more than maxBuffered bytes wait after a chunk', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        // 200 bytes announced: 3 and 4 bytes waiting are allowed, 5 are not.
        const source = cold('-a-b-c-|', { a: Buffer.of(200, 1, 2), b: Buffer.of(3), c: Buffer.of(4) });
        const error = expect.objectContaining({ name: 'FrameTooLongError', limit: 4, bytesSeen: 5 });
        expectObservable(source.pipe(decode(byteCounted, { maxBuffered: 4 }))).toBe(
          '-----#',
          undefined,
          error,
        );
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
    });

    it('lets one chunk bring many more complete frames than maxBuffered', () => {
      const frames = Array.from({ length: 100 }, (_, i) => Buffer.alloc(3, i));
      const chunk = Buffer.concat(frames.map((frame) => Buffer.concat([Buffer.of(3), frame])));
      const { frames: decoded, error } = run(decode(byteCounted, { maxBuffered: 4 }), [chunk]);
      expect(error).toBeUndefined();
      expect(decoded).toEqual(frames);
    });

    it('turns a throw from step into the error notification and unsubscribes', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-|', { a: b('+OK\r\n'), b: b('?\r\n') });
        const error = expect.objectContaining({ message: 'unknown type "?"' });
        expectObservable(source.pipe(decode(resp))).toBe('-x-#', { x: { simple: 'OK' } }, error);
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('refuses a frame that consumed no byte with a TypeError, instead of looping for ever', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-|', { a: b('x') });
        const error = expect.objectContaining({
          name: 'TypeError',
          message: expect.stringContaining('without consuming any byte'),
        });
        expectObservable(source.pipe(decode(() => 'frame'))).toBe('-#', undefined, error);
      });
    });

    it('keeps separate state for each subscription', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-b-|', { a: Buffer.of(2, 0x61), b: Buffer.of(0x62) });
        const decoded = source.pipe(decode(byteCounted));
        expectObservable(decoded).toBe('---x-|', { x: b('ab') });
        expectObservable(decoded, '--^').toBe('-----x-|', { x: b('ab') });
      });
    });
  });

  describe('steps', () => {
    it('puts back what a step read when it returns undefined', () => {
      const seen: string[] = [];
      const step: DecodeStep<string> = (cursor) => {
        seen.push(cursor.peek(cursor.length)!.toString('latin1'));
        const header = cursor.readLine();
        if (header === undefined) return undefined;
        const body = cursor.read(Number(header));
        return body?.toString('latin1');
      };
      const { frames, error } = run(decode(step), [b('3\n'), b('a'), b('bc')]);
      expect(error).toBeUndefined();
      expect(frames).toEqual(['abc']);
      // Every call saw the header again.
      expect(seen).toEqual(['3\n', '3\na', '3\nabc']);
    });

    it('emits null as a frame', () => {
      const step: DecodeStep<null> = (cursor) => (cursor.skip(1) ? null : undefined);
      expect(run(decode(step), [b('ab')]).frames).toEqual([null, null]);
    });

    it('does not call step for an empty stream, nor for empty chunks', () => {
      let calls = 0;
      const step: DecodeStep<Buffer> = (cursor) => {
        calls++;
        return cursor.read(1);
      };
      expect(run(decode(step), [b(''), b('')])).toEqual({ frames: [], error: undefined, completed: true });
      expect(calls).toBe(0);
    });

    it('accepts strings, encoded as options.encoding, Buffers and plain Uint8Arrays', () => {
      const view = Uint8Array.of(9, 9, 0x63).subarray(2);
      const step: DecodeStep<Buffer> = (cursor) => cursor.read(1);
      expect(run(decode(step, { encoding: 'latin1' }), ['é', b('b'), view]).frames).toEqual([
        Buffer.of(0xe9),
        b('b'),
        b('c'),
      ]);
      expect(run(decode(step), ['é']).frames).toEqual([Buffer.of(0xc3), Buffer.of(0xa9)]);
    });

    it('fails with a TypeError on a chunk that is neither bytes nor a string', () => {
      const { frames, error } = run(decode(byteCounted), [Buffer.of(0), 42 as unknown as string]);
      expect(frames).toEqual([Buffer.alloc(0)]);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain('got number');
    });

    it('stops an endless synchronous source once the consumer has taken enough', () => {
      let produced = 0;
      const endless = new Observable<Buffer>((subscriber) => {
        while (!subscriber.closed) {
          produced++;
          subscriber.next(Buffer.of(1, 0x61));
        }
      });
      const taken: Buffer[] = [];
      endless.pipe(decode(byteCounted), take(3)).subscribe((frame) => taken.push(frame));
      expect(taken).toEqual([b('a'), b('a'), b('a')]);
      expect(produced).toBeLessThanOrEqual(4);
    });

    it('stops an endless synchronous source after an error', () => {
      let produced = 0;
      const endless = new Observable<Buffer>((subscriber) => {
        while (!subscriber.closed) {
          produced++;
          subscriber.next(Buffer.of(0xff));
        }
      });
      let error: unknown;
      endless.pipe(decode(byteCounted, { maxBuffered: 10 })).subscribe({ error: (e) => (error = e) });
      expect(error).toBeInstanceOf(FrameTooLongError);
      expect(produced).toBeLessThanOrEqual(12);
    });

    it('reports a throw from step as an error notification, never as an unhandled error', async () => {
      const errors: unknown[] = [];
      const unhandled = await unhandledDuring(() => {
        from([b('+a\r\n'), b('!\r\n')])
          .pipe(decode(resp))
          .subscribe({ error: (e) => errors.push(e) });
      });
      expect(errors).toEqual([new Error('unknown type "!"')]);
      expect(unhandled).toEqual([]);
    });

    it('swallows a throw from a step that closed its own subscriber', async () => {
      const source = new Subject<Buffer>();
      const received: unknown[] = [];
      let subscription: Subscription | undefined;
      let steps = 0;
      const step: DecodeStep<Buffer> = () => {
        steps++;
        subscription?.unsubscribe();
        throw new Error('after the end');
      };
      const unhandled = await unhandledDuring(() => {
        subscription = source.pipe(decode(step)).subscribe({
          next: (frame) => received.push(frame),
          error: (e) => received.push(e),
        });
        source.next(b('x'));
        source.next(b('y'));
      });
      expect(steps).toBe(1);
      expect(received).toEqual([]);
      expect(unhandled).toEqual([]);
      expect(source.observed).toBe(false);
    });

    it('decodes bytes that arrive while a step runs, from a step that makes its own source emit', () => {
      const source = new Subject<Buffer>();
      let fed = false;
      const step: DecodeStep<Buffer> = (cursor) => {
        const complete = cursor.length >= 3;
        if (!fed) {
          fed = true;
          source.next(Buffer.of(0x62));
        }
        return complete ? byteCounted(cursor) : undefined;
      };
      const frames: Buffer[] = [];
      source.pipe(decode(step)).subscribe((frame) => frames.push(frame));
      source.next(Buffer.of(2, 0x61));
      expect(frames).toEqual([b('ab')]);
    });

    it('refuses the cursor once its step has returned', () => {
      let kept: DecodeCursor | undefined;
      const step: DecodeStep<Buffer> = (cursor) => {
        kept = cursor;
        return cursor.read(1);
      };
      const { frames } = run(decode(step), [b('ab')]);
      expect(frames).toEqual([b('a'), b('b')]);
      const message = /used after its step returned/;
      expect(() => kept!.length).toThrow(message);
      expect(() => kept!.read(1)).toThrow(message);
      expect(() => kept!.readLine()).toThrow(message);
      expect(() => kept!.indexOf(0x61)).toThrow(message);
    });

    it('keeps a cursor kept past its step from consuming the bytes of a later frame', () => {
      let kept: DecodeCursor | undefined;
      const source = new Subject<Buffer>();
      const frames: Buffer[] = [];
      let error: unknown;
      source
        .pipe(
          decode((cursor) => {
            kept = cursor;
            return cursor.read(1);
          }),
        )
        .subscribe({ next: (frame) => frames.push(frame), error: (e) => (error = e) });
      source.next(b('a'));
      // A later read through the kept cursor, outside any step, must not consume the next frame.
      expect(() => kept!.skip(1)).toThrow(/used after its step returned/);
      source.next(b('b'));
      expect(frames).toEqual([b('a'), b('b')]);
      expect(error).toBeUndefined();
    });
  });

  describe('subscription', () => {
    const oneByte: DecodeStep<Buffer> = (cursor) => cursor.read(1);

    it('ignores what its source sends after completing or failing', async () => {
      const ends: ((subscriber: Subscriber<Buffer>) => void)[] = [
        (subscriber) => subscriber.complete(),
        (subscriber) => subscriber.error(new Error('reset')),
      ];
      const outcomes: unknown[][] = [];
      const unhandled = await unhandledDuring(() => {
        for (const end of ends) {
          const unruly = new Observable<Buffer>((subscriber) => {
            subscriber.next(b('a'));
            end(subscriber);
            subscriber.next(b('b'));
            subscriber.error(new Error('late'));
            subscriber.complete();
          });
          const outcome: unknown[] = [];
          unruly.pipe(decode(oneByte)).subscribe({
            next: (frame) => outcome.push(frame),
            error: (error) => outcome.push(error),
            complete: () => outcome.push('complete'),
          });
          outcomes.push(outcome);
        }
      });
      expect(outcomes).toEqual([
        [b('a'), 'complete'],
        [b('a'), new Error('reset')],
      ]);
      expect(unhandled).toEqual([]);
    });

    it('ignores what its source sends once unsubscribed, and closes the subscriber it gave it', () => {
      let source: Subscriber<Buffer> | undefined;
      let steps = 0;
      const received: unknown[] = [];
      const subscription = new Observable<Buffer>((subscriber) => {
        source = subscriber;
      })
        .pipe(
          decode((cursor) => {
            steps++;
            return oneByte(cursor);
          }),
        )
        .subscribe({ next: (frame) => received.push(frame), error: (error) => received.push(error) });
      source!.next(b('a'));
      subscription.unsubscribe();
      expect(source!.closed).toBe(true);
      source!.next(b('b'));
      source!.error(new Error('late'));
      expect(received).toEqual([b('a')]);
      expect(steps).toBe(1);
    });

    it("turns a throw from the source's subscribe function into the error notification", () => {
      let error: unknown;
      new Observable<Buffer>(() => {
        throw new Error('cannot start');
      })
        .pipe(decode(oneByte))
        .subscribe({ error: (e) => (error = e) });
      expect(error).toEqual(new Error('cannot start'));
    });

    it('lets go of the bytes buffered once unsubscribed, even with a cursor kept past its step', async () => {
      const source = new Subject<Buffer>();
      let kept: DecodeCursor | undefined;
      const subscription = source
        .pipe(
          decode((cursor) => {
            kept = cursor;
            return undefined;
          }),
        )
        .subscribe();
      // Large enough to be queued as it came, not copied.
      let chunk: Buffer | undefined = Buffer.alloc(64 * 1024);
      const bytes = new WeakRef(chunk.buffer);
      source.next(chunk);
      chunk = undefined;
      subscription.unsubscribe();
      // A WeakRef keeps its target until the end of the job that made it.
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      expect(kept).toBeDefined();
      expect(bytes.deref()).toBeUndefined();
    });
  });

  describe('cursor', () => {
    it('counts the bytes from its position, and says when the source has ended', () => {
      const lengths: [number, boolean][] = [];
      run(
        decode((cursor) => {
          lengths.push([cursor.length, cursor.ended]);
          if (!cursor.ended) return undefined;
          cursor.skip(2);
          lengths.push([cursor.length, cursor.ended]);
          return cursor.read(cursor.length);
        }),
        [b('ab'), b('cd')],
      );
      expect(lengths).toEqual([
        [2, false],
        [4, false],
        [4, true],
        [2, true],
      ]);
    });

    describe('byteAt', () => {
      it('reads across chunks, relative to the position, and gives -1 past the end', () => {
        const seen: number[][] = [];
        probe([b('ab'), b('c'), b('de')], (cursor) => {
          seen.push([0, 1, 2, 3, 4, 5, 100].map((i) => cursor.byteAt(i)));
          cursor.skip(3);
          seen.push([0, 1, 2].map((i) => cursor.byteAt(i)));
        });
        expect(seen).toEqual([
          [0x61, 0x62, 0x63, 0x64, 0x65, -1, -1],
          [0x64, 0x65, -1],
        ]);
      });

      it.each([
        [-1, RangeError],
        [1.5, RangeError],
        [Number.NaN, TypeError],
      ])('refuses index %p', (index, type) => {
        const { error } = probe([b('ab')], (cursor) => cursor.byteAt(index));
        expect(error).toBeInstanceOf(type);
        expect((error as Error).message).toContain(`got ${index}`);
      });
    });

    describe('indexOf', () => {
      it('finds a byte, a string and bytes, relative to the position, from `from`', () => {
        const found: number[] = [];
        probe([b('xa\r\nb\r\n')], (cursor) => {
          cursor.skip(1);
          found.push(
            cursor.indexOf(0x0a),
            cursor.indexOf('\r\n'),
            cursor.indexOf('\r\n', 2),
            cursor.indexOf(Uint8Array.of(0x62, 0x0d)),
            cursor.indexOf('b\r\n'),
            cursor.indexOf('zz'),
            cursor.indexOf(0x78),
            cursor.indexOf('a', 1),
            cursor.indexOf('', 2),
          );
        });
        expect(found).toEqual([2, 1, 4, 3, 3, -1, -1, -1, 2]);
      });

      it('finds a needle cut between chunks, once all of it has arrived', () => {
        const found: number[] = [];
        const { frames } = run(
          decode((cursor) => {
            const at = cursor.indexOf('\r\n\r\n');
            found.push(at);
            return at === -1 ? undefined : cursor.read(at + 4)?.toString('latin1');
          }),
          [b('head\r'), b('\n\r'), b('\nbody')],
        );
        expect(found).toEqual([-1, -1, 4, -1, -1]);
        expect(frames).toEqual(['head\r\n\r\n']);
      });

      it('searches for each string asked, not the one asked before', () => {
        const found: number[] = [];
        probe([b('abcabc')], (cursor) => {
          found.push(cursor.indexOf('c'), cursor.indexOf('b'), cursor.indexOf('c', 3), cursor.indexOf('é'));
        });
        expect(found).toEqual([2, 1, 5, -1]);
      });

      it('refuses a byte out of range and a search of another type', () => {
        expect(probe([b('a')], (cursor) => cursor.indexOf(256)).error).toBeInstanceOf(RangeError);
        expect(probe([b('a')], (cursor) => cursor.indexOf(-1)).error).toBeInstanceOf(RangeError);
        expect(probe([b('a')], (cursor) => cursor.indexOf({} as string)).error).toBeInstanceOf(TypeError);
        expect(probe([b('a')], (cursor) => cursor.indexOf('a', -1)).error).toBeInstanceOf(RangeError);
      });
    });

    describe('peek, read and skip', () => {
      it('peek leaves the bytes for read, which then consumes them', () => {
        const seen: (string | undefined)[] = [];
        probe([b('ab'), b('cd')], (cursor) => {
          seen.push(
            cursor.peek(3)?.toString(),
            cursor.peek(3)?.toString(),
            cursor.read(3)?.toString(),
            cursor.peek(1)?.toString(),
            cursor.peek(2)?.toString(),
          );
        });
        expect(seen).toEqual(['abc', 'abc', 'abc', 'd', undefined]);
      });

      it('read and skip consume nothing when too few bytes are buffered', () => {
        const seen: unknown[] = [];
        probe([b('abc')], (cursor) => {
          seen.push(
            cursor.read(4),
            cursor.skip(4),
            cursor.length,
            cursor.skip(1),
            cursor.read(2)?.toString(),
          );
          seen.push(cursor.read(0)?.length, cursor.skip(0), cursor.peek(0)?.length, cursor.length);
        });
        expect(seen).toEqual([undefined, false, 3, true, 'bc', 0, true, 0, 0]);
      });

      it('returns views of the chunk for bytes inside one, and one copy for bytes spanning chunks', () => {
        // Not from Buffer's shared pool, where a copy could land in the same ArrayBuffer; and
        // large enough to be kept as they came rather than gathered.
        const first = Buffer.alloc(600, 'x');
        first.write('abcd', 596);
        const second = Buffer.alloc(600, 'y');
        second.write('efgh', 0);
        const out: Buffer[] = [];
        probe([first, second], (cursor) => {
          cursor.skip(597);
          out.push(cursor.peek(2)!, cursor.read(2)!, cursor.peek(3)!, cursor.read(3)!, cursor.read(2)!);
        });
        expect(out.map((bytes) => bytes.toString())).toEqual(['bc', 'bc', 'def', 'def', 'gh']);
        expect(out[0].buffer).toBe(first.buffer);
        expect(out[1].buffer).toBe(first.buffer);
        expect(out[1].byteOffset).toBe(first.byteOffset + 597);
        expect(out[2].buffer).not.toBe(first.buffer);
        expect(out[2].buffer).not.toBe(second.buffer);
        expect(out[4].buffer).toBe(second.buffer);
      });

      it.each([
        [-1, RangeError],
        [2.5, RangeError],
        [Number.NaN, TypeError],
        ['1', TypeError],
      ])('refuses a count of %p', (n, type) => {
        for (const method of ['peek', 'read', 'skip'] as const) {
          const { error } = probe([b('abc')], (cursor) => cursor[method](n as number));
          expect(error).toBeInstanceOf(type);
        }
      });
    });

    describe('readLine and peekLine', () => {
      const linesOf = (chunks: Buffer[], encoding?: BufferEncoding) =>
        run(
          decode(
            (cursor) => cursor.readLine(encoding) ?? (cursor.ended ? cursor.read(cursor.length) : undefined),
          ),
          chunks,
        );

      it('strips \\n or \\r\\n, keeps a lone \\r, and gives empty lines', () => {
        expect(linesOf([b('a\nb\r\n\r\nc\rd\n\r\r\n')]).frames).toEqual(['a', 'b', '', 'c\rd', '\r']);
      });

      it('finds a \\r\\n cut between chunks, and lines cut anywhere', () => {
        expect(linesOf([b('ab\r'), b('\ncd\r'), b('\r\n')]).frames).toEqual(['ab', 'cd\r']);
        expect(linesOf(oneByOne(b('one\r\ntwo\n'))).frames).toEqual(['one', 'two']);
      });

      it('decodes UTF-8 by default, a character cut between chunks included, or the encoding given', () => {
        const text = Buffer.from('é€\n');
        expect(linesOf([text.subarray(0, 1), text.subarray(1, 3), text.subarray(3)]).frames).toEqual(['é€']);
        expect(linesOf([Buffer.of(0xe9, 0x0a)], 'latin1').frames).toEqual(['é']);
      });

      it('returns undefined and consumes nothing without a \\n', () => {
        const seen: unknown[] = [];
        probe([b('ab\r')], (cursor) => {
          seen.push(cursor.readLine(), cursor.peekLine(), cursor.length);
        });
        expect(seen).toEqual([undefined, undefined, 3]);
      });

      it('peekLine leaves the line for readLine, and both start at the position', () => {
        const seen: unknown[] = [];
        probe([b('xone\r'), b('\ntwo\n')], (cursor) => {
          cursor.skip(1);
          seen.push(
            cursor.peekLine(),
            cursor.peekLine(),
            cursor.readLine(),
            cursor.peekLine(),
            cursor.length,
          );
          seen.push(cursor.readLine(), cursor.readLine(), cursor.length);
        });
        expect(seen).toEqual(['one', 'one', 'one', 'two', 4, 'two', undefined, 0]);
      });

      it('finds the next line after a step that read a line and was undone', () => {
        const step: DecodeStep<[string, string]> = (cursor) => {
          const first = cursor.readLine();
          const second = cursor.readLine();
          return first === undefined || second === undefined ? undefined : [first, second];
        };
        expect(run(decode(step), [b('a\nb'), b('\nc\n'), b('d\n')]).frames).toEqual([
          ['a', 'b'],
          ['c', 'd'],
        ]);
      });

      it('reads a long line arriving in many small chunks in linear time', () => {
        // Searching the whole line again at each chunk would take minutes here.
        const chunks = oneByOne(b(`${'x'.repeat(200_000)}\n`));
        const start = Date.now();
        const { frames } = run(
          decode((cursor) => cursor.readLine(), { maxBuffered: 1 << 20 }),
          chunks,
        );
        expect(frames).toEqual(['x'.repeat(200_000)]);
        expect(Date.now() - start).toBeLessThan(5_000);
      });
    });
  });

  describe('options', () => {
    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
      'refuses maxBuffered %p with a RangeError',
      (value) => {
        expect(() => decode(byteCounted, { maxBuffered: value })).toThrow(RangeError);
        expect(() => decode(byteCounted, { maxBuffered: value })).toThrow(`got ${value}`);
      },
    );

    it('refuses a maxBuffered that is not a number, and an unknown encoding', () => {
      expect(() => decode(byteCounted, { maxBuffered: '10' as unknown as number })).toThrow(TypeError);
      expect(() => decode(byteCounted, { maxBuffered: '10' as unknown as number })).toThrow('got "10"');
      expect(() => decode(byteCounted, { encoding: 'klingon' as BufferEncoding })).toThrow(RangeError);
      expect(() => decode(byteCounted, { encoding: 'klingon' as BufferEncoding })).toThrow('got "klingon"');
    });

    it('refuses a step that is not a function with a TypeError at the call', () => {
      expect(() => decode('step' as unknown as DecodeStep<string>)).toThrow(TypeError);
      expect(() => decode(undefined as unknown as DecodeStep<string>)).toThrow('got undefined');
    });

    it('lets 1 MiB wait by default', () => {
      const never: DecodeStep<Buffer> = () => undefined;
      const waiting = [Buffer.alloc(1024 * 1024 - 1), Buffer.of(1)];
      expect(run(decode(never), waiting).error).toBeInstanceOf(TruncatedFrameError);
      const { error } = run(decode(never), [...waiting, Buffer.of(2)]);
      expect(error).toBeInstanceOf(FrameTooLongError);
      expect(error).toMatchObject({ limit: 1024 * 1024, bytesSeen: 1024 * 1024 + 1 });
    });
  });

  describe('properties', () => {
    const payload = fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes));
    const respFrame: fc.Arbitrary<Resp> = fc.oneof(
      fc
        .string({ unit: 'binary-ascii', maxLength: 20 })
        .map((text) => ({ simple: text.replace(/[\r\n]/g, '') })),
      fc.integer().map((integer) => ({ integer })),
      // Bulk strings may hold \r\n: only the length says where they end.
      fc.array(fc.constantFrom(0x0d, 0x0a, 0x24, 0x61), { maxLength: 20 }).map((bytes) => ({
        bulk: Buffer.from(bytes),
      })),
    );

    it('decodes length-prefixed frames, however the bytes are cut', () => {
      fc.assert(
        fc.property(fc.array(payload, { maxLength: 15 }), sizes, (frames, chunkSizes) => {
          const bytes = Buffer.concat(frames.map((frame) => Buffer.concat([Buffer.of(frame.length), frame])));
          const { frames: decoded, error, completed } = run(decode(byteCounted), cut(bytes, chunkSizes));
          expect(error).toBeUndefined();
          expect(completed).toBe(true);
          expect(decoded).toEqual(frames);
        }),
        { numRuns: 1000 },
      );
    });

    it('decodes RESP-like lines and bodies, however the bytes are cut', () => {
      fc.assert(
        fc.property(fc.array(respFrame, { maxLength: 15 }), sizes, (frames, chunkSizes) => {
          const bytes = Buffer.concat(frames.map(encodeResp));
          const { frames: decoded, error, completed } = run(decode(resp), cut(bytes, chunkSizes));
          expect(error).toBeUndefined();
          expect(completed).toBe(true);
          expect(decoded).toEqual(frames);
        }),
        { numRuns: 1000 },
      );
    });

    it('ends any garbage with a notification, never a throw, and never waits on more than maxBuffered', async () => {
      const garbage = fc.array(fc.constantFrom(0x2b, 0x24, 0x3a, 0x2d, 0x31, 0x39, 0x0d, 0x0a, 0x61, 0xff), {
        maxLength: 120,
      });
      const outcomes: string[] = [];
      const unhandled = await unhandledDuring(() =>
        fc.assert(
          fc.property(garbage, sizes, fc.integer({ min: 1, max: 30 }), (bytes, chunkSizes, maxBuffered) => {
            const chunks = cut(Buffer.from(bytes), chunkSizes);
            let largest = 0;
            const watched: DecodeStep<Resp> = (cursor) => {
              // What waited after the last chunk, and the chunk just pushed (at most 9 bytes).
              largest = Math.max(largest, cursor.length);
              return resp(cursor);
            };
            let outcome: { error?: unknown; completed: boolean } = { completed: false };
            expect(() => {
              outcome = run(decode(watched, { maxBuffered }), chunks);
            }).not.toThrow();
            expect(outcome.completed || outcome.error !== undefined).toBe(true);
            expect(largest).toBeLessThanOrEqual(maxBuffered + 9);
            if (outcome.error instanceof FrameTooLongError) {
              expect(outcome.error.limit).toBe(maxBuffered);
              expect(outcome.error.bytesSeen).toBeGreaterThan(maxBuffered);
            }
            outcomes.push(outcome.completed ? 'completed' : (outcome.error as Error).name);
          }),
          { numRuns: 1000 },
        ),
      );
      expect(unhandled).toEqual([]);
      // The garbage reached every kind of ending.
      expect(new Set(outcomes)).toEqual(
        new Set(['completed', 'Error', 'FrameTooLongError', 'TruncatedFrameError']),
      );
    });
  });
});
