/**
 * Slow reader: a 256 MiB burst towards a connection that is not reading; RSS growth of the
 * receiving process, which must stay under 64 MiB (the reader buffers `readerBufferSize`, 128 KiB,
 * then pauses the socket, so the burst waits in the sender and the kernel instead).
 *
 * Two cases, each rx-tcp against raw `node:net`:
 * - unread: a server whose connection nobody reads for a while (rx-tcp: a `Server.create` handler
 *   that subscribes to its reader only later; raw: a `pauseOnConnect` socket resumed later);
 * - echo: an echo server (rx-tcp `reader.transfer(writer)`, raw `s.pipe(s)`) whose client sends
 *   the burst but reads nothing back for a while: the pushback must reach the sender.
 * The sender (a separate process, plain `node:net`, kept for the whole figure) writes 256 MiB at
 * once; after a hold of 1 s the reading starts, and the run ends when all 256 MiB have arrived
 * (unread) or come back (echo), so nothing was lost. The receiver (a fresh process per run)
 * samples its RSS every 10 ms from before the burst to the end; the figure is the peak growth.
 *
 * Run alone with `npm run bench -- slow-reader`; `BENCH_QUICK=1` for 64 MiB.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import type { Reader } from '../src';
import {
  conclude,
  exitWithError,
  type FigureResult,
  forkRole,
  KiB,
  MiB,
  median,
  nextMessage,
  reap,
  roundsOr,
  runIfMain,
  type Side,
  settledMemory,
  sideOrder,
  sized,
} from './common';
import { echoBack, listenRaw, startRxServer } from './servers';

const BURST = sized(256 * MiB, 64 * MiB);
const HOLD_MS = sized(1000, 500);
const LIMIT = 64 * MiB;
const CHUNK = Buffer.alloc(64 * KiB, 'y');

type Mode = 'unread' | 'echo';

// ---------------------------------------------------------------------------------------------
// The receiving process (measured).

async function receiverRole(side: Side, mode: Mode): Promise<void> {
  const baseline = (await settledMemory()).rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  let startReading: () => void = () => {};
  const reading = new Promise<void>((resolve) => (startReading = resolve));
  let received = 0;
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => (finished = resolve));
  const countUntilEnd = (reader: Reader) =>
    new Promise<void>((resolve, reject) =>
      reader.subscribe({
        next: (chunk) => {
          received += chunk.length;
        },
        error: reject,
        complete: () => {
          finished();
          resolve();
        },
      }),
    );
  let port: number;
  if (side === 'rx') {
    const server = await startRxServer((_address, reader, writer) =>
      mode === 'echo' ? reader.transfer(writer) : reading.then(() => countUntilEnd(reader)),
    );
    port = server.listeningOn;
  } else {
    const server = net.createServer({ pauseOnConnect: mode === 'unread', noDelay: true }, (socket) => {
      if (mode === 'echo') {
        echoBack(socket);
        return;
      }
      socket.on('error', () => {});
      // Accepted paused: nothing is read until it is resumed.
      reading.then(() => {
        socket.on('end', () => finished());
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
        });
        socket.resume();
      });
    });
    port = await listenRaw(server);
  }
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'read') {
      const holdGrowth = Math.max(peak, process.memoryUsage.rss()) - baseline;
      startReading();
      if (mode === 'echo') finished();
      await done;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage.rss());
      process.send!({ type: 'result', growth: peak - baseline, holdGrowth, received });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'listening', port });
}

// ---------------------------------------------------------------------------------------------
// The sending process: plain node:net whatever the receiver is.

function senderRole(): void {
  process.on('message', async (message: { type: string; port: number; mode: Mode; bytes: number }) => {
    if (message.type === 'burst') {
      const socket = net.connect({ port: message.port, host: '127.0.0.1' });
      socket.on('error', (error) => process.send!({ type: 'error', message: String(error) }));
      await once(socket, 'connect');
      socket.pause();
      // The burst: every chunk handed to the socket at once, whatever it can take.
      for (let sent = 0; sent < message.bytes; sent += CHUNK.length) socket.write(CHUNK);
      socket.end();
      process.send!({ type: 'bursting' });
      await nextParentMessage('read');
      const queued = socket.writableLength;
      let echoed = 0;
      socket.on('data', (chunk: Buffer) => {
        echoed += chunk.length;
      });
      socket.resume();
      await once(socket, 'close');
      process.send!({ type: 'sent', queuedAtHold: queued, echoed });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
}

function nextParentMessage(type: string): Promise<unknown> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
  });
}

// ---------------------------------------------------------------------------------------------
// This process.

interface Run {
  growth: number;
  holdGrowth: number;
  received: number;
  echoed: number;
  queuedAtHold: number;
}

/** Runs one burst against `receiver`, a fresh receiver process for `side` and `mode`. */
async function runOnce(sender: ChildProcess, receiver: ChildProcess, side: Side, mode: Mode): Promise<Run> {
  try {
    const { port } = await nextMessage<{ type: string; port: number }>(receiver, 'listening');
    sender.send({ type: 'burst', port, mode, bytes: BURST });
    await nextMessage(sender, 'bursting');
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    const sent = nextMessage<{ type: string; queuedAtHold: number; echoed: number }>(sender, 'sent');
    const result = nextMessage<{ type: string; growth: number; holdGrowth: number; received: number }>(
      receiver,
      'result',
    );
    sender.send({ type: 'read' });
    receiver.send({ type: 'read' });
    const [{ growth, holdGrowth, received }, { queuedAtHold, echoed }] = await Promise.all([result, sent]);
    const arrived = mode === 'echo' ? echoed : received;
    if (arrived !== BURST) throw new Error(`${side} ${mode}: ${arrived} of ${BURST} bytes arrived`);
    return { growth, holdGrowth, received, echoed, queuedAtHold };
  } finally {
    receiver.disconnect();
    await reap(receiver);
  }
}

export async function main(): Promise<FigureResult[]> {
  const results: FigureResult[] = [];
  const plan: { mode: Mode; side: Side }[] = [];
  for (const [mode, rounds] of [
    ['unread', roundsOr(5)],
    ['echo', roundsOr(3)],
  ] as const) {
    for (let round = 0; round < rounds; round++) {
      for (const side of sideOrder(round)) plan.push({ mode, side });
    }
  }
  const fresh = (i: number) =>
    i < plan.length ? forkRole(__filename, `receiver-${plan[i].side}-${plan[i].mode}`) : undefined;
  const sender = forkRole(__filename, 'sender');
  // Each run gets a fresh receiver, forked while the previous run goes on (memory is per process).
  let next = fresh(0);
  await nextMessage(sender, 'ready');
  try {
    for (const mode of ['unread', 'echo'] as const) {
      console.log(
        `slow reader (${mode}): ${BURST / MiB} MiB burst towards a connection that ` +
          `${mode === 'unread' ? 'is not read' : 'echoes to a client not reading'} ` +
          `for ${HOLD_MS} ms, peak RSS growth of the receiving process in MiB`,
      );
      const samples: Record<Side, number[]> = { rx: [], raw: [] };
      const hold: Record<Side, number[]> = { rx: [], raw: [] };
      const queued: Record<Side, number[]> = { rx: [], raw: [] };
      for (let i = 0; i < plan.length; i++) {
        if (plan[i].mode !== mode) continue;
        const receiver = next!;
        next = fresh(i + 1);
        const { side } = plan[i];
        const run = await runOnce(sender, receiver, side, mode);
        samples[side].push(run.growth / MiB);
        hold[side].push(run.holdGrowth / MiB);
        queued[side].push(run.queuedAtHold / MiB);
      }
      const result = conclude(
        `slow reader (${mode})`,
        'MiB RSS growth',
        samples,
        {
          text: `< ${LIMIT / MiB} MiB in every round`,
          met: (rx) => Math.max(...rx) * MiB < LIMIT,
        },
        [
          `growth while not reading (the hold): rx-tcp ${median(hold.rx).toFixed(1)} MiB, ` +
            `raw ${median(hold.raw).toFixed(1)} MiB; the rest is the drain at full speed`,
          `still queued in the sender when reading started: rx-tcp ${median(queued.rx).toFixed(0)} MiB, ` +
            `raw ${median(queued.raw).toFixed(0)} MiB of ${BURST / MiB} MiB; all ${BURST / MiB} MiB arrived`,
        ],
        1,
      );
      results.push(result);
    }
  } finally {
    next?.kill();
    sender.disconnect();
    await reap(sender);
  }
  return results;
}

const role = process.env.BENCH_ROLE;
if (require.main === module && role !== undefined) {
  if (role === 'sender') senderRole();
  else {
    const [, side, mode] = role.split('-');
    receiverRole(side as Side, mode as Mode).catch(exitWithError);
  }
} else {
  runIfMain(module, main);
}
