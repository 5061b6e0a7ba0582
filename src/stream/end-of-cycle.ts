/** Something with a flush due once the current cycle of work is done: a writer's buffer. */
export interface EndOfCycleFlush {
  scheduledFlush(): void;
}

/** Flushes due at the end of this cycle, in the order they became due. */
let due: EndOfCycleFlush[] = [];
/** The array of the previous round, emptied, to be the next `due`: no array per round. */
let spare: EndOfCycleFlush[] = [];

const RESOLVED = Promise.resolve();
/** Node's own, taken once: test doubles of timers (Jest's fake timers fake it) must not hold flushes. */
const { nextTick } = process;

/**
 * Runs `writer`'s flush once the current cycle of work is done, in one callback shared by every
 * writer due then: Async's flush at the end of a scheduler cycle, Netty's at `channelReadComplete`.
 *
 * The cycle is done when the microtask queue is empty: every `await` continuation and promise
 * reaction that the work queued, however long the chain, has run. A microtask alone would run too
 * early, before the continuations queued behind it; but a `nextTick` queued from a microtask runs
 * only once Node has drained the whole microtask queue, and still before Node returns to the event
 * loop. So a request/response loop that answers each request after an `await` sends all the
 * answers to one batch of requests in one system call, with no wait for a later phase of the loop.
 */
export function flushAtEndOfCycle(writer: EndOfCycleFlush): void {
  due.push(writer);
  if (due.length === 1) RESOLVED.then(flushAfterMicrotasks);
}

function flushAfterMicrotasks(): void {
  nextTick(flushDue);
}

function flushDue(): void {
  const flushing = due;
  // Flushes made due by these go to the next round.
  due = spare;
  for (let i = 0; i < flushing.length; i++) {
    try {
      flushing[i].scheduledFlush();
    } catch (error) {
      // Not ours to swallow, and the other writers must still flush.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
  // pop() for the usual single writer: setting `length` is a runtime call.
  if (flushing.length === 1) flushing.pop();
  else flushing.length = 0;
  spare = flushing;
}
