import { of, Subject } from 'rxjs';
import { BareSubscriber } from '../src/bare-subscriber';

class Recorder extends BareSubscriber<number> {
  readonly seen: string[] = [];
  next(value: number): void {
    if (!this.closed) this.seen.push(`next ${value}`);
  }
  error(error: unknown): void {
    if (this.closed) return;
    this.seen.push(`error ${String(error)}`);
    this.unsubscribe();
  }
  complete(): void {
    if (this.closed) return;
    this.seen.push('complete');
    this.unsubscribe();
  }
}

describe('BareSubscriber', () => {
  it('is used by subscribe as it is, not wrapped', () => {
    const recorder = new Recorder();
    expect(of(1, 2).subscribe(recorder)).toBe(recorder);
    expect(recorder.seen).toEqual(['next 1', 'next 2', 'complete']);
    expect(recorder.closed).toBe(true);
  });

  it('is closed by unsubscribing from what it subscribed to, and hears nothing after', () => {
    const subject = new Subject<number>();
    const recorder = new Recorder();
    const subscription = subject.subscribe(recorder);
    subject.next(1);
    subscription.unsubscribe();
    subject.next(2);
    expect(recorder.closed).toBe(true);
    expect(subject.observed).toBe(false);
    expect(recorder.seen).toEqual(['next 1']);
  });
});
