import { flushAtEndOfCycle } from '../../src/stream/end-of-cycle';

/** A flush that records when it ran. */
function recorder(log: string[], name: string, fail?: Error) {
  return {
    scheduledFlush() {
      log.push(name);
      if (fail !== undefined) throw fail;
    },
  };
}

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('end-of-cycle flushes', () => {
  it('run once every microtask and continuation queued meanwhile has run, in the order they became due, once each', async () => {
    const log: string[] = [];
    let immediateRan = false;
    setImmediate(() => {
      immediateRan = true;
    });
    flushAtEndOfCycle(recorder(log, 'a'));
    // A chain of continuations, each queued by the one before, as `await`s in a loop are.
    const chain = (async () => {
      for (let i = 0; i < 100; i++) await Promise.resolve();
      log.push('continuations');
    })();
    flushAtEndOfCycle(recorder(log, 'b'));
    expect(log).toEqual([]);
    await chain;
    expect(log).toEqual(['continuations']);
    // Before the event loop moves on to its next phase (an immediate queued before them).
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(log).toEqual(['continuations', 'a', 'b']);
    expect(immediateRan).toBe(false);
    await nextImmediate();
    expect(log).toEqual(['continuations', 'a', 'b']);
  });

  it('go on after one throws, and rethrow its error in a microtask of its own', async () => {
    const log: string[] = [];
    const boom = new Error('flush failed');
    const queued = jest.spyOn(globalThis, 'queueMicrotask').mockImplementation(() => {});
    try {
      flushAtEndOfCycle(recorder(log, 'a', boom));
      flushAtEndOfCycle(recorder(log, 'b'));
      await nextImmediate();
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
    flushAtEndOfCycle({
      scheduledFlush() {
        log.push('first');
        flushAtEndOfCycle(late);
      },
    });
    await new Promise<void>((resolve) => process.nextTick(resolve));
    await Promise.resolve();
    expect(log).toEqual(['first']);
    await nextImmediate();
    expect(log).toEqual(['first', 'late']);
  });
});
