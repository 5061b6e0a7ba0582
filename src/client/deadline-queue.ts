import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';

/** Something that fails at its deadline unless it is removed from the queue first. */
export interface Due {
  /** When it is due, in its scheduler's time (`scheduler.now()`). */
  readonly deadline: number;
  /** @internal The queue's links: the next older and the next newer entry. */
  older: Due | undefined;
  newer: Due | undefined;
  /** The deadline is reached: it is out of the queue already. */
  expired(): void;
}

/**
 * The deadlines of one scheduler, with one alarm for them all: the connect timeout of every
 * attempt, rather than a timer of its own per attempt. Arming and cancelling a Node timer per
 * connection made (a `Timeout`, a timer list created and dropped each time, a call into libuv, and
 * RxJS's action around it) is a cost a client making many connections pays on each; here an
 * attempt costs linking and unlinking itself, and the alarm is set again only when it rings, at
 * most once per timeout period.
 *
 * Entries are kept in deadline order by appending only: an entry due before the newest one (a
 * shorter timeout than the others waiting) is refused, and its caller times it by itself. The
 * alarm rings at or before the oldest deadline; an alarm left set when every entry is gone rings
 * once for nothing. So that it never keeps a process alive by itself, a Node timer beneath it is
 * unref'd: an attempt waiting holds its own socket, which keeps the process alive anyway.
 */
export class DeadlineQueue {
  private oldest: Due | undefined;
  private newest: Due | undefined;
  private alarm: Subscription | undefined;
  /** When the alarm rings, in the scheduler's time. */
  private alarmAt = 0;

  constructor(private readonly scheduler: SchedulerLike) {}

  /**
   * Adds `due` as the newest entry, and sees that the alarm rings in time for it. Returns false,
   * adding nothing, when `due` is due before the newest entry.
   */
  add(due: Due): boolean {
    const newest = this.newest;
    if (newest !== undefined && due.deadline < newest.deadline) return false;
    due.older = newest;
    due.newer = undefined;
    if (newest === undefined) this.oldest = due;
    else newest.newer = due;
    this.newest = due;
    this.setAlarm();
    return true;
  }

  /** Takes `due` out of the queue; nothing happens if it is not in it. */
  remove(due: Due): void {
    const { older, newer } = due;
    if (older !== undefined) older.newer = newer;
    else if (this.oldest === due) this.oldest = newer;
    else return;
    if (newer !== undefined) newer.older = older;
    else this.newest = older;
    due.older = undefined;
    due.newer = undefined;
  }

  /** @internal The alarm rang: the entries due by now expire, oldest first. */
  ring(): void {
    this.alarm = undefined;
    const now = this.scheduler.now();
    // Only the entries there when it rang: expiring one may add another (a retry), due later.
    const last = this.newest;
    let due = this.oldest;
    while (due !== undefined && due.deadline <= now) {
      this.remove(due);
      due.expired();
      if (due === last) break;
      due = this.oldest;
    }
    this.setAlarm();
  }

  /** Sets the alarm for the oldest deadline unless it already rings by then. */
  private setAlarm(): void {
    const oldest = this.oldest;
    if (oldest === undefined) return;
    if (this.alarm !== undefined) {
      if (this.alarmAt <= oldest.deadline) return;
      this.alarm.unsubscribe();
    }
    const now = this.scheduler.now();
    this.alarmAt = oldest.deadline;
    const alarm = this.scheduler.schedule(ringTask, Math.max(0, oldest.deadline - now), this);
    this.alarm = alarm;
    unref(alarm);
  }
}

function ringTask(this: SchedulerAction<DeadlineQueue>, queue?: DeadlineQueue): void {
  queue!.ring();
}

/**
 * Lets the Node timer beneath a scheduled action (an `AsyncAction`'s `id`, a Node `Timeout`) not
 * keep the process alive. Other schedulers' actions (virtual time) have nothing to let go.
 */
function unref(action: Subscription): void {
  const id = (action as { id?: unknown }).id;
  if (typeof id === 'object' && id !== null && typeof (id as { unref?: unknown }).unref === 'function') {
    (id as NodeJS.Timeout).unref();
  }
}

const queues = new WeakMap<SchedulerLike, DeadlineQueue>();

/**
 * The deadline queue of `scheduler`, if it is on the wall clock now; `undefined` for a virtual
 * clock (a `TestScheduler`, or `asyncScheduler` inside `TestScheduler.run`), whose deadlines the
 * caller times one by one.
 */
export function deadlineQueue(scheduler: SchedulerLike): DeadlineQueue | undefined {
  if (!onWallClock(scheduler)) return undefined;
  let queue = queues.get(scheduler);
  if (queue === undefined) {
    queue = new DeadlineQueue(scheduler);
    queues.set(scheduler, queue);
  }
  return queue;
}

/**
 * Whether `scheduler` keeps wall-clock time now. One queue must never hold deadlines of two clocks:
 * an alarm set on one may never ring on the other, and their deadlines are not comparable. Yet one
 * scheduler object may change clocks (`asyncScheduler` is on virtual time inside
 * `TestScheduler.run`), and RxJS has no public way to ask which clock a scheduler is on; so its
 * reading is compared with `Date.now()`. A virtual clock starts at 0, decades from the wall clock,
 * so the margin need not be tight.
 */
function onWallClock(scheduler: SchedulerLike): boolean {
  return Math.abs(scheduler.now() - Date.now()) <= WALL_CLOCK_MARGIN;
}

/** How far from `Date.now()` a scheduler's clock may be and still count as the wall clock. */
const WALL_CLOCK_MARGIN = 60_000;
