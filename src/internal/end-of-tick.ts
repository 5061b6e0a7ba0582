/** Something with a flush due at the end of the tick: a Writer over a socket. */
export interface EndOfTickFlush {
  scheduledFlush(): void;
}

/** Flushes due at the end of this tick, in the order they became due. */
let due: EndOfTickFlush[] = [];
/** The array of the previous round, emptied, to be the next `due`: no array per round. */
let spare: EndOfTickFlush[] = [];
/** Nesting depth of {@link holdFlushes}: while above 0, due flushes wait for the hold to end. */
let holding = 0;
const RESOLVED = Promise.resolve();

/**
 * Runs `writer`'s flush at the end of the tick, in one microtask shared by every writer due then.
 * About a microsecond cheaper per flush than `asapScheduler` (an action, a bound function and a
 * promise each time), which is a good part of a request/response round trip on a socket. A
 * promise reaction rather than Node's `queueMicrotask`, which wraps each callback in an
 * `AsyncResource` (a few hundred bytes, and the async-hooks calls).
 */
export function flushAtEndOfTick(writer: EndOfTickFlush): void {
  due.push(writer);
  if (due.length === 1 && holding === 0) RESOLVED.then(flushDue);
}

/**
 * While a socket event is delivered (received bytes handed to the Reader, and whatever the user's
 * code writes in response), flushes wait for {@link releaseFlushes} rather than a microtask: the
 * writes made in response are still joined into one system call per writer, and a
 * request/response round trip saves a microtask on each side. Pair every call with
 * `releaseFlushes()` in a `finally`.
 */
export function holdFlushes(): void {
  holding++;
}

/** Ends a {@link holdFlushes}; the outermost one runs the flushes that became due meanwhile. */
export function releaseFlushes(): void {
  if (--holding === 0 && due.length > 0) flushDue();
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
