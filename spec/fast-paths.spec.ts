import * as crypto from 'node:crypto';
import { connectionPair } from 'rx-tcp/testing';
import { firstValueFrom, lastValueFrom, Observable, Subject, takeUntil } from 'rxjs';
import { socketTransport } from '../src/node/socket-transport';
import { Outcome } from '../src/stream/outcome';
import { type ClientAndPeer, clientAndPeer } from './helpers/client-and-peer';
import { collect, waitFor } from './helpers/net';

// The shortcuts taken for speed and memory (see bench/ and the README's Performance section),
// each checked to keep the behaviour it replaces.

describe('Outcome (no teardown, one waiter without an array)', () => {
  it('skips a waiter that unsubscribed, and serves the others in order', () => {
    const outcome = new Outcome();
    const seen: string[] = [];
    const stop = new Subject<void>();
    outcome.pipe(takeUntil(stop)).subscribe({ complete: () => seen.push('gone') });
    outcome.subscribe({ next: () => seen.push('a'), complete: () => seen.push('a done') });
    stop.next();
    expect(seen).toEqual(['gone']);
    expect(outcome.observed).toBe(true);
    outcome.resolve();
    expect(seen).toEqual(['gone', 'a', 'a done']);
    outcome.subscribe({ complete: () => seen.push('late') });
    expect(seen).toEqual(['gone', 'a', 'a done', 'late']);
    expect(outcome.observed).toBe(false);
  });

  it('does not pile up waiters that subscribe and leave while it is pending', () => {
    const outcome = new Outcome();
    for (let i = 0; i < 10_000; i++) outcome.subscribe().unsubscribe();
    const kept = (outcome as unknown as { waiters: unknown }).waiters;
    expect(Array.isArray(kept) ? kept.length : 1).toBeLessThanOrEqual(16);
    expect(outcome.observed).toBe(false);
    let failed: unknown;
    outcome.subscribe({ error: (error) => (failed = error) });
    outcome.reject(new Error('boom'));
    expect(failed).toEqual(new Error('boom'));
  });
});

describe('Outcome.asObservable (what callers get cannot settle the outcome)', () => {
  /** The ways to settle an outcome, none of which a caller may reach. */
  const settlers = ['resolve', 'complete', 'reject'];

  it('is a plain Observable, the same each time, that sees the outcome when it comes', () => {
    const outcome = new Outcome();
    const view = outcome.asObservable();
    expect(outcome.asObservable()).toBe(view);
    expect(view).not.toBeInstanceOf(Outcome);
    expect(view).toBeInstanceOf(Observable);
    for (const name of settlers) expect(name in view).toBe(false);
    const seen: string[] = [];
    view.subscribe({ next: () => seen.push('next'), complete: () => seen.push('complete') });
    expect(seen).toEqual([]);
    outcome.resolve();
    expect(seen).toEqual(['next', 'complete']);
    view.subscribe({ error: (error) => seen.push(`late ${error}`), complete: () => seen.push('late') });
    expect(seen).toEqual(['next', 'complete', 'late']);
    const failed = new Outcome();
    failed.reject('boom');
    failed.asObservable().subscribe({ error: (error) => seen.push(`error ${error}`) });
    expect(seen).toEqual(['next', 'complete', 'late', 'error boom']);
  });

  it('is what a writer and a connection hand out: none of their Observables settles them', async () => {
    const [a, b] = connectionPair();
    const { writer } = a;
    writer.write('x');
    const pending = writer.flushed();
    const handedOut = [pending, writer.consumerLeft, writer.closeFinished, a.closed];
    await lastValueFrom(pending);
    handedOut.push(writer.flushed(), a.close()); // flushed already, and closing
    for (const observable of handedOut) {
      for (const name of settlers) expect(name in observable).toBe(false);
    }
    await lastValueFrom(b.close());
    await lastValueFrom(a.closed);
  });
});

describe('socket transport writes without a callback when nothing is queued', () => {
  let p: ClientAndPeer;
  afterEach(() => p?.close());

  it('calls done at once when the OS took the chunk, and in order once it drains when it did not', async () => {
    p = await clientAndPeer();
    const transport = socketTransport(p.connection.socket.nodeSocket);
    const done: number[] = [];
    transport.write(Buffer.from('hello'), () => done.push(0));
    expect(done).toEqual([0]); // synchronous: no process.nextTick per write
    p.peer.pause();
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 1; i <= 256; i++) transport.write(chunk, () => done.push(i));
    expect(done.length).toBeLessThan(257); // backed up: the rest waits
    const received = collect(p.peer);
    p.peer.resume();
    await waitFor(() => done.length === 257, 10_000, 'every write done');
    expect(done).toEqual(Array.from({ length: 257 }, (_, i) => i));
    p.connection.socket.nodeSocket.end();
    expect((await received).length).toBe(5 + 256 * chunk.length);
  });

  it('reports a write on a destroyed socket as failed', async () => {
    p = await clientAndPeer();
    const socket = p.connection.socket.nodeSocket;
    const transport = socketTransport(socket);
    socket.destroy();
    const error = await new Promise<unknown>((resolve) => transport.write(Buffer.from('x'), resolve));
    expect((error as NodeJS.ErrnoException | undefined)?.code).toBe('ERR_STREAM_DESTROYED');
  });
});

describe('Writer buffer handed over without copies', () => {
  let p: ClientAndPeer;
  afterEach(() => p?.close());

  it('keeps every byte in order across many flushes that share one buffer, with the caller reusing its array', async () => {
    p = await clientAndPeer();
    const received = collect(p.peer);
    const expected = crypto.createHash('sha256');
    const scratch = new Uint8Array(100);
    for (let tick = 0; tick < 2000; tick++) {
      const length = 1 + (tick % 97);
      scratch.fill(tick % 251, 0, length);
      p.connection.writer.write(scratch.subarray(0, length)); // copied: reused at once below
      expected.update(scratch.subarray(0, length));
      p.connection.writer.writeLine(`tick ${tick}`);
      expected.update(`tick ${tick}\n`);
      scratch.fill(255);
      if (tick % 10 === 0) await firstValueFrom(p.connection.writer.flushed());
    }
    await lastValueFrom(p.connection.writer.close());
    const data = await received;
    expect(crypto.createHash('sha256').update(data).digest('hex')).toBe(expected.digest('hex'));
  });
});

describe('Writer: a lone short string per tick goes out as the string itself', () => {
  let p: ClientAndPeer;
  afterEach(() => p?.close());

  it('writes it uncopied, counting its UTF-8 bytes, and copies it into the buffer when more follows', async () => {
    p = await clientAndPeer();
    const received = collect(p.peer);
    const { writer } = p.connection;
    const write = jest.spyOn(p.connection.socket.nodeSocket, 'write');
    writer.write(''); // nothing: neither pending nor written
    writer.writeLine('héllo'); // alone in its tick
    expect(writer.bytesToWrite).toBe(7);
    await firstValueFrom(writer.flushed());
    expect(write.mock.calls.map((call) => call[0])).toEqual(['héllo\n']);
    // Then a string followed by more in the same tick: one buffer, in order.
    writer.write('a€');
    writer.write(Uint8Array.of(0x62));
    writer.write('c');
    expect(writer.bytesToWrite).toBe(6);
    await firstValueFrom(writer.flushed());
    expect(write).toHaveBeenCalledTimes(2);
    expect(Buffer.from(write.mock.calls[1][0] as Uint8Array).toString()).toBe('a€bc');
    // A string first, then a write large enough to pass through: the string goes first.
    const large = Buffer.alloc(32 * 1024, 'x');
    writer.write('d');
    writer.write(large);
    await lastValueFrom(writer.close());
    expect((await received).toString()).toBe(`héllo\na€bcd${large.toString()}`);
    expect(writer.bytesWritten).toBe(7 + 6 + 1 + large.length);
  });
});
