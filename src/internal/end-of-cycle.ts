/** Something with a flush due once the current cycle of work is done: a Writer over a socket. */
export interface EndOfCycleFlush {
  scheduledFlush(): void;
}

/** Flushes due at the end of this cycle, in the order they became due. */
let due: EndOfCycleFlush[] = [];
/** The array of the previous round, emptied, to be the next `due`: no array per round. */
let spare: EndOfCycleFlush[] = [];

/**
 * Runs `writer`'s flush once the current cycle of work is done, in one callback shared by every
 * writer due then: Async's flush at the end of a scheduler cycle, Netty's at `channelReadComplete`.
 *
 * The cycle ends in Node's check phase (`setImmediate`): after the I/O callbacks of this turn of
 * the event loop and every microtask they queued, `await` continuations included, and before the
 * loop waits for I/O again. So a request/response loop that answers each request after an `await`
 * still sends all the answers to one batch of requests in one system call, in the same turn.
 * A microtask would run too early (before the continuations queued behind it) and a timer too
 * late (timers wait for the next turn).
 */
export function flushAtEndOfCycle(writer: EndOfCycleFlush): void {
  due.push(writer);
  if (due.length === 1) setImmediate(flushDue);
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
