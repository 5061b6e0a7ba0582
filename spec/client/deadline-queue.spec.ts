import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { DeadlineQueue, type Due, deadlineQueue } from '../../src/client/deadline-queue';

/** An entry that logs, with the virtual time, when it expires. */
function entry(
  name: string,
  deadline: number,
  log: string[],
  clock: SchedulerLike,
  onExpiry?: () => void,
): Due {
  return {
    deadline,
    older: undefined,
    newer: undefined,
    expired() {
      log.push(`${name}@${clock.now()}`);
      onExpiry?.();
    },
  };
}

/**
 * Whether `queue` holds no entry: an entry due now is refused behind a later one, or else finds
 * itself the oldest. It is taken out again (its alarm, if it set one, rings for nothing).
 */
function holdsNone(queue: DeadlineQueue, clock: SchedulerLike): boolean {
  const probe = entry('probe', clock.now(), [], clock);
  if (!queue.add(probe)) return false;
  const none = probe.older === undefined;
  queue.remove(probe);
  return none;
}

/** A virtual-time scheduler that counts the actions scheduled on it. */
function countingScheduler(): { scheduler: TestScheduler; scheduled: () => number } {
  const scheduler = new TestScheduler(() => {});
  const schedule = jest.spyOn(scheduler, 'schedule');
  return { scheduler, scheduled: () => schedule.mock.calls.length };
}

describe('DeadlineQueue', () => {
  afterEach(() => jest.restoreAllMocks());

  it('expires each entry at its deadline, oldest first, with one alarm at a time', () => {
    const { scheduler, scheduled } = countingScheduler();
    const queue = new DeadlineQueue(scheduler);
    const log: string[] = [];
    for (const [name, at] of [
      ['a', 100],
      ['b', 100],
      ['c', 250],
      ['d', 400],
    ] as const) {
      expect(queue.add(entry(name, at, log, scheduler))).toBe(true);
    }
    expect(scheduled()).toBe(1);
    scheduler.flush();
    expect(log).toEqual(['a@100', 'b@100', 'c@250', 'd@400']);
    // One alarm per distinct deadline: set again only when it rang.
    expect(scheduled()).toBe(3);
    expect(holdsNone(queue, scheduler)).toBe(true);
  });

  it('never expires an entry removed in time, and rings once for nothing when all are gone', () => {
    const { scheduler, scheduled } = countingScheduler();
    const queue = new DeadlineQueue(scheduler);
    const log: string[] = [];
    const a = entry('a', 100, log, scheduler);
    const b = entry('b', 200, log, scheduler);
    const c = entry('c', 300, log, scheduler);
    queue.add(a);
    queue.add(b);
    queue.add(c);
    queue.remove(b); // from the middle
    queue.remove(a); // the oldest
    queue.remove(a); // twice: nothing
    scheduler.flush();
    expect(log).toEqual(['c@300']);
    queue.add(entry('d', 400, log, scheduler));
    queue.remove(queue as never); // not an entry of it: nothing
    expect(holdsNone(queue, scheduler)).toBe(false);
    const e = entry('e', 500, log, scheduler);
    queue.add(e);
    queue.remove(e); // the newest
    scheduler.flush();
    expect(log).toEqual(['c@300', 'd@400']);
    expect(holdsNone(queue, scheduler)).toBe(true);
    const before = scheduled();
    scheduler.flush();
    expect(scheduled()).toBe(before);
  });

  it('refuses an entry due before the newest one, and takes one due at the same time', () => {
    const scheduler = new TestScheduler(() => {});
    const queue = new DeadlineQueue(scheduler);
    const log: string[] = [];
    queue.add(entry('a', 300, log, scheduler));
    expect(queue.add(entry('early', 200, log, scheduler))).toBe(false);
    expect(queue.add(entry('same', 300, log, scheduler))).toBe(true);
    scheduler.flush();
    expect(log).toEqual(['a@300', 'same@300']);
  });

  it('sets the alarm earlier for a first entry due before the alarm left set', () => {
    const { scheduler, scheduled } = countingScheduler();
    const queue = new DeadlineQueue(scheduler);
    const log: string[] = [];
    const late = entry('late', 1000, log, scheduler);
    queue.add(late);
    queue.remove(late);
    queue.add(entry('soon', 50, log, scheduler));
    expect(scheduled()).toBe(2);
    scheduler.flush();
    expect(log).toEqual(['soon@50']);
  });

  it('leaves an entry added while expiring, even one due at once, to the next alarm', () => {
    const { scheduler, scheduled } = countingScheduler();
    const queue = new DeadlineQueue(scheduler);
    const log: string[] = [];
    let retries = 0;
    const retry = (): void => {
      // A retry with a timeout of 0: due now. Expiring it in the same ring would loop for ever.
      if (++retries <= 3) queue.add(entry(`retry${retries}`, scheduler.now(), log, scheduler, retry));
    };
    queue.add(entry('a', 100, log, scheduler, retry));
    scheduler.flush();
    expect(log).toEqual(['a@100', 'retry1@100', 'retry2@100', 'retry3@100']);
    // Each retry waited for an alarm of its own.
    expect(scheduled()).toBe(4);
    expect(holdsNone(queue, scheduler)).toBe(true);
  });

  it('does not keep the process alive with its Node timer', () => {
    const queue = new DeadlineQueue(asyncScheduler);
    const due = entry('a', asyncScheduler.now() + 60_000, [], asyncScheduler);
    queue.add(due);
    const alarm = (queue as unknown as { alarm: { id: NodeJS.Timeout; unsubscribe(): void } }).alarm;
    try {
      expect(alarm.id.hasRef()).toBe(false);
    } finally {
      queue.remove(due);
      alarm.unsubscribe();
    }
  });
});

describe('deadlineQueue', () => {
  it('is one queue per real-time scheduler', () => {
    const queue = deadlineQueue(asyncScheduler);
    expect(queue).toBeInstanceOf(DeadlineQueue);
    expect(deadlineQueue(asyncScheduler)).toBe(queue);
  });

  it('is none for a virtual clock, which times each deadline by itself', () => {
    const scheduler = new TestScheduler(() => {});
    expect(deadlineQueue(scheduler)).toBeUndefined();
    scheduler.run(() => {
      expect(deadlineQueue(asyncScheduler)).toBeUndefined();
    });
  });
});
