import type { Address } from '../address';
import type { PooledConnection, PooledState, PoolUse } from './pool-connection';
import type { PoolLimits, PoolState, PoolStats } from './pool-options';

/** The transitions a pooled connection may make (see {@link PooledState}). */
const NEXT_STATES: Record<PooledState, readonly PooledState[]> = {
  new: ['connecting'],
  connecting: ['leased', 'closed'],
  idle: ['leased', 'closing'],
  leased: ['idle', 'closing'],
  closing: ['closed'],
  closed: [],
};

/**
 * A pool's books: its connections by state, the uses waiting, and the counts. A connection changes
 * state here only, in {@link move}, which keeps the counts with it.
 */
export class PoolLedger<A extends Address> {
  /** The open connections: `connecting`, `idle` or `leased`. */
  readonly slots = new Set<PooledConnection<A>>();
  /** The idle ones, the most recently given back last: leased first, so that the others idle out. */
  readonly idle: PooledConnection<A>[] = [];
  /** The uses waiting for a connection, first come first served: a queue linked through the uses. */
  private firstWaiting: PoolUse<A> | undefined;
  private lastWaiting: PoolUse<A> | undefined;
  /** How many wait. */
  waiting = 0;
  connecting = 0;
  leased = 0;
  /** Retired connections whose socket is still closing. */
  closing = 0;

  get stats(): PoolStats {
    return { open: this.slots.size, idle: this.idle.length, leased: this.leased, waiting: this.waiting };
  }

  /** The use waiting longest. */
  firstWaiter(): PoolUse<A> | undefined {
    return this.firstWaiting;
  }

  /** The uses waiting, first first. */
  waiters(): PoolUse<A>[] {
    const waiters: PoolUse<A>[] = [];
    for (let use = this.firstWaiting; use !== undefined; use = use.behind) waiters.push(use);
    return waiters;
  }

  /** Puts `use` last in the queue. */
  enqueue(use: PoolUse<A>): void {
    use.ahead = this.lastWaiting;
    use.behind = undefined;
    if (this.lastWaiting === undefined) this.firstWaiting = use;
    else this.lastWaiting.behind = use;
    this.lastWaiting = use;
    this.waiting++;
  }

  /** Takes `use` out of the queue, wherever it is in it. */
  dequeue(use: PoolUse<A>): void {
    const { ahead, behind } = use;
    if (ahead === undefined) this.firstWaiting = behind;
    else ahead.behind = behind;
    if (behind === undefined) this.lastWaiting = ahead;
    else behind.ahead = ahead;
    use.ahead = undefined;
    use.behind = undefined;
    this.waiting--;
  }

  /** The one place a pooled connection changes state; a transition the table does not allow is a bug. */
  move(slot: PooledConnection<A>, next: PooledState): void {
    const from = slot.state;
    if (!NEXT_STATES[from].includes(next)) {
      throw new Error(`ConnectionPool: a connection cannot go from ${from} to ${next}`);
    }
    if (from === 'connecting') this.connecting--;
    else if (from === 'leased') this.leased--;
    else if (from === 'closing') this.closing--;
    else if (from === 'idle') this.idle.splice(this.idle.lastIndexOf(slot), 1);
    if (next === 'connecting') this.connecting++;
    else if (next === 'leased') this.leased++;
    else if (next === 'closing') this.closing++;
    else if (next === 'idle') this.idle.push(slot);
    if (next === 'connecting') this.slots.add(slot);
    else if (next === 'closing' || next === 'closed') this.slots.delete(slot);
    slot.state = next;
  }

  /** What is inconsistent in the books of a pool in `state` with `limits`: nothing, normally. */
  problems(state: PoolState, limits: PoolLimits): string[] {
    const problems: string[] = [];
    const count = { connecting: 0, idle: 0, leased: 0 };
    for (const slot of this.slots) {
      const { state: at, user } = slot;
      if (at === 'connecting' || at === 'idle' || at === 'leased') count[at]++;
      else problems.push(`a ${at} connection counted open`);
      const holders = at === 'connecting' ? ['connecting'] : at === 'leased' ? ['leased', 'running'] : [];
      const held = user !== undefined && user.slot === slot && holders.includes(user.state);
      if (holders.length > 0 ? !held : user !== undefined) {
        problems.push(`a ${at} connection held by a ${user?.state ?? 'missing'} use`);
      }
    }
    if (count.connecting !== this.connecting) problems.push(`${this.connecting} counted connecting`);
    if (count.leased !== this.leased) problems.push(`${this.leased} counted leased`);
    if (count.idle !== this.idle.length || this.idle.some((slot) => slot.state !== 'idle')) {
      problems.push('the idle list differs from the idle connections');
    }
    const { open, idle, waiting } = this.stats;
    const { maxConnections, maxWaiting } = limits;
    if (open !== count.connecting + count.idle + count.leased) problems.push(`open ${open}`);
    if (open > maxConnections) problems.push(`open ${open} over ${maxConnections}`);
    if (waiting > maxWaiting) problems.push(`${waiting} waiting over ${maxWaiting}`);
    const waiters = this.waiters();
    if (waiters.length !== waiting)
      problems.push(`${waiting} counted waiting, ${waiters.length} in the queue`);
    if (waiters.some((use) => use.state !== 'waiting')) problems.push('a waiter not waiting');
    if (waiting > 0 && (idle > 0 || open < maxConnections)) problems.push('uses wait while one is free');
    if (state !== 'open' && waiting + idle + this.connecting > 0) problems.push(`${state} but not empty`);
    if (state === 'closed' && open > 0) problems.push('closed with connections open');
    if (this.closing < 0) problems.push(`closing ${this.closing}`);
    return problems;
  }
}
