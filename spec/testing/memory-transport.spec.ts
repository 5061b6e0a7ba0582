import { TestScheduler } from 'rxjs/testing';
import type { Transport } from '../../src/stream/transport';
import { memoryTransportPair } from '../../src/testing/memory-transport';
import { testScheduler } from '../helpers/marbles';

// The in-memory transport on its own, driven by a TestScheduler's flush(): what each end's
// listener sees, in order. (Through Connection, the same is covered by connection-pair.spec.ts,
// and against real sockets by agreement.spec.ts.)

interface End {
  transport: Transport;
  events: string[];
  /** Results of write/end callbacks, in the order they ran. */
  done: string[];
}

function setUp(windowSize = 1024): { scheduler: TestScheduler; a: End; b: End } {
  const scheduler = testScheduler();
  const [ta, tb] = memoryTransportPair(windowSize, scheduler);
  const end = (transport: Transport): End => {
    const events: string[] = [];
    transport.start({
      onData: (chunk) => events.push(`data ${chunk.toString()}`),
      onEnd: () => events.push('end'),
      onError: (error) => events.push(`error ${(error as { code?: string }).code}`),
      onClose: () => events.push('close'),
    });
    return { transport, events, done: [] };
  };
  return { scheduler, a: end(ta), b: end(tb) };
}

function write(end: End, text: string): void {
  end.transport.write(Buffer.from(text), (error) =>
    end.done.push(error ? `${text}: ${error.message}` : text),
  );
}

function finish(end: End): void {
  end.transport.end((error) => end.done.push(error ? `FIN: ${error.message}` : 'FIN'));
}

describe('memoryTransportPair', () => {
  it('delivers writes to the other end from a scheduled task, never inside the call', () => {
    const { scheduler, a, b } = setUp();
    write(a, 'hello');
    expect(b.events).toEqual([]);
    expect(a.done).toEqual([]);
    scheduler.flush();
    expect(b.events).toEqual(['data hello']);
    expect(a.done).toEqual(['hello']);
  });

  it('counts in writableLength what does not fit the window while the receiver is paused', () => {
    const { scheduler, a, b } = setUp(8);
    b.transport.pause();
    write(a, 'abcdef');
    write(a, 'ghijkl');
    expect(a.transport.writableLength).toBe(4); // 8 in flight, 4 waiting
    scheduler.flush();
    expect(b.events).toEqual([]);
    expect(a.done).toEqual(['abcdef']); // the second write has not fully reached the window
    b.transport.resume();
    scheduler.flush();
    expect(b.events.join('').replaceAll('data ', '')).toBe('abcdefghijkl');
    expect(a.done).toEqual(['abcdef', 'ghijkl']);
    expect(a.transport.writableLength).toBe(0);
  });

  it('stops delivering as soon as the listener pauses, and goes on at resume', () => {
    const scheduler = new TestScheduler(() => {});
    const [ta, tb] = memoryTransportPair(4, scheduler);
    const got: string[] = [];
    tb.start({
      onData: (chunk) => {
        got.push(chunk.toString());
        tb.pause();
      },
      onEnd: () => got.push('end'),
      onError: () => got.push('error'),
      onClose: () => got.push('close'),
    });
    ta.write(Buffer.from('abcdefghij'), () => {});
    ta.end(() => {});
    scheduler.flush();
    expect(got).toEqual(['abcd']);
    expect(ta.writableLength).toBe(2); // 4 delivered, 4 in flight, 2 waiting
    tb.resume();
    scheduler.flush();
    expect(got).toEqual(['abcd', 'efgh']);
    tb.resume();
    scheduler.flush();
    expect(got).toEqual(['abcd', 'efgh', 'ij']);
    tb.resume();
    scheduler.flush();
    expect(got).toEqual(['abcd', 'efgh', 'ij', 'end']);
  });

  it('sends FIN after the data; an end that sent and received FIN closes by itself, once', () => {
    const { scheduler, a, b } = setUp();
    write(a, 'bye');
    finish(a);
    scheduler.flush();
    expect(b.events).toEqual(['data bye', 'end']);
    expect(a.done).toEqual(['bye', 'FIN']);
    write(b, 'half-closed, still writing');
    finish(b);
    scheduler.flush();
    expect(a.events).toEqual(['data half-closed, still writing', 'end', 'close']);
    expect(b.events).toEqual(['data bye', 'end', 'close']);
    a.transport.destroy();
    b.transport.abort();
    scheduler.flush();
    expect(a.events.filter((e) => e === 'close')).toHaveLength(1);
    expect(b.events.filter((e) => e === 'close')).toHaveLength(1);
  });

  it('says an end cannot stall exactly while nothing is queued: a FIN then goes out whatever the peer does', () => {
    const { scheduler, a, b } = setUp(4);
    b.transport.pause();
    expect(a.transport.endCannotStall()).toBe(true);
    write(a, 'abcd'); // fills the window
    expect(a.transport.endCannotStall()).toBe(true);
    write(a, 'ef'); // waits in the queue for a peer that does not read
    expect(a.transport.endCannotStall()).toBe(false);
    finish(a);
    scheduler.flush();
    expect(a.done).toEqual(['abcd']); // the FIN waits behind 'ef'
    b.transport.resume();
    scheduler.flush();
    expect(a.done).toEqual(['abcd', 'ef', 'FIN']);
    expect(a.transport.endCannotStall()).toBe(true);
  });

  it('abort: the peer gets what was in flight, then ECONNRESET and close; our own end only closes', () => {
    const { scheduler, a, b } = setUp();
    write(a, 'partial');
    a.transport.abort();
    a.transport.abort();
    scheduler.flush();
    expect(a.events).toEqual(['close']);
    expect(b.events).toEqual(['data partial', 'error ECONNRESET', 'close']);
  });

  it('abort drops what waits in the queue and fails its callbacks', () => {
    const { scheduler, a, b } = setUp(4);
    b.transport.pause();
    write(a, 'abcd');
    write(a, 'efgh');
    finish(a);
    a.transport.abort();
    expect(a.transport.writableLength).toBe(0);
    scheduler.flush();
    expect(a.done).toEqual([
      'abcd',
      'efgh: Cannot call write after a stream was destroyed',
      'FIN: Cannot call write after a stream was destroyed',
    ]);
    b.transport.resume();
    scheduler.flush();
    expect(b.events).toEqual(['data abcd', 'error ECONNRESET', 'close']);
  });

  it('destroy is graceful: what is in flight arrives, then FIN', () => {
    const { scheduler, a, b } = setUp();
    write(a, 'last');
    a.transport.destroy();
    scheduler.flush();
    expect(a.events).toEqual(['close']);
    expect(b.events).toEqual(['data last', 'end']);
  });

  it('destroy with unread bytes from the peer resets the peer instead', () => {
    const { scheduler, a, b } = setUp();
    a.transport.pause();
    write(b, 'unread');
    scheduler.flush();
    a.transport.destroy();
    scheduler.flush();
    expect(a.events).toEqual(['close']);
    expect(b.events).toEqual(['error ECONNRESET', 'close']);
  });

  it('a closed end answers data with a reset', () => {
    const { scheduler, a, b } = setUp();
    a.transport.destroy();
    scheduler.flush();
    expect(b.events).toEqual(['end']);
    write(b, 'anyone there?');
    scheduler.flush();
    expect(b.done).toEqual(['anyone there?']); // the bytes reached the window: the write succeeded
    expect(b.events).toEqual(['end', 'error ECONNRESET', 'close']);
    expect(a.events).toEqual(['close']);
  });

  it('a paused end notices a reset waiting for it when it writes', () => {
    const { scheduler, a, b } = setUp();
    b.transport.pause();
    write(a, 'unseen');
    a.transport.abort();
    scheduler.flush();
    expect(b.events).toEqual([]); // a paused socket does not read, so it does not see the reset yet
    write(b, 'x');
    scheduler.flush();
    expect(b.done).toEqual(['x: write ECONNRESET']);
    expect(b.events).toEqual(['error ECONNRESET', 'close']);
  });

  it('fails writes and end after close, and writes after end', () => {
    const { scheduler, a } = setUp();
    finish(a);
    write(a, 'after end');
    scheduler.flush();
    expect(a.done).toEqual(['FIN', 'after end: write after end']);
    a.transport.destroy();
    write(a, 'after close');
    finish(a);
    scheduler.flush();
    expect(a.done.slice(2)).toEqual(['after close: Cannot call write after a stream was destroyed', 'FIN']);
  });

  it('copies a chunk when it enters the window, so the writer may reuse it', () => {
    const { scheduler, a, b } = setUp();
    const chunk = Buffer.from('abc');
    a.transport.write(chunk, () => {});
    chunk.write('xyz');
    scheduler.flush();
    expect(b.events).toEqual(['data abc']);
  });

  it('keeps what arrives before start, and delivers it once started', () => {
    const scheduler = new TestScheduler(() => {});
    const [ta, tb] = memoryTransportPair(8, scheduler);
    ta.write(Buffer.from('early'), () => {});
    scheduler.flush();
    const events: string[] = [];
    tb.start({
      onData: (chunk) => events.push(chunk.toString()),
      onEnd: () => events.push('end'),
      onError: () => events.push('error'),
      onClose: () => events.push('close'),
    });
    scheduler.flush();
    expect(events).toEqual(['early']);
  });
});
