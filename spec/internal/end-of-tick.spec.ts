import { flushAtEndOfTick, holdFlushes, releaseFlushes } from '../../src/internal/end-of-tick';

/** A flush that records when it ran. */
function recorder(log: string[], name: string, fail?: Error) {
  return {
    scheduledFlush() {
      log.push(name);
      if (fail !== undefined) throw fail;
    },
  };
}

const microtasks = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('end-of-tick flushes', () => {
  it('run in a microtask, in the order they became due, once each', async () => {
    const log: string[] = [];
    flushAtEndOfTick(recorder(log, 'a'));
    flushAtEndOfTick(recorder(log, 'b'));
    expect(log).toEqual([]);
    await Promise.resolve();
    expect(log).toEqual(['a', 'b']);
    await microtasks();
    expect(log).toEqual(['a', 'b']);
  });

  it('wait for the outermost release while held, and then run at once, before any nextTick', async () => {
    const log: string[] = [];
    holdFlushes();
    holdFlushes();
    flushAtEndOfTick(recorder(log, 'a'));
    process.nextTick(() => log.push('tick'));
    releaseFlushes();
    expect(log).toEqual([]);
    flushAtEndOfTick(recorder(log, 'b'));
    releaseFlushes();
    expect(log).toEqual(['a', 'b']);
    await microtasks();
    expect(log).toEqual(['a', 'b', 'tick']);
  });

  it('go on after one throws, and rethrow its error in a microtask of its own', () => {
    const log: string[] = [];
    const boom = new Error('flush failed');
    const queued = jest.spyOn(globalThis, 'queueMicrotask').mockImplementation(() => {});
    try {
      holdFlushes();
      flushAtEndOfTick(recorder(log, 'a', boom));
      flushAtEndOfTick(recorder(log, 'b'));
      releaseFlushes();
      expect(log).toEqual(['a', 'b']);
      expect(queued).toHaveBeenCalledTimes(1);
      expect(queued.mock.calls[0][0]).toThrow(boom);
    } finally {
      queued.mockRestore();
    }
  });

  it('that become due while others flush run in the next round', async () => {
    const log: string[] = [];
    const late = recorder(log, 'late');
    flushAtEndOfTick({
      scheduledFlush() {
        log.push('first');
        flushAtEndOfTick(late);
      },
    });
    await Promise.resolve();
    expect(log).toEqual(['first']);
    await microtasks();
    expect(log).toEqual(['first', 'late']);
  });
});
