import { type ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import type { Writer } from 'rx-tcp';
import type { Observable } from 'rxjs';

/** A raw `node:net` server on 127.0.0.1, port chosen by the OS, for testing the client side. */
export async function rawServer(
  onConnection: (socket: net.Socket) => void,
): Promise<{ port: number; sockets: net.Socket[]; close: () => Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was bound by the OS, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A listener whose accept queue is full, so that a further SYN goes unanswered and a connection
 * attempt hangs until its timeout: a Python process that listens with a backlog of 0 and never
 * accepts, plus filler connections that occupy the queue.
 */
export async function blackhole(): Promise<{ port: number; close: () => Promise<void> }> {
  const child: ChildProcess = spawn(
    'python3',
    [
      '-c',
      'import socket,sys\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
  });
  const fillers: net.Socket[] = [];
  // Fill the queue: connect until an attempt stays unanswered for a while (at most 16 tries).
  for (let i = 0; i < 16; i++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 250);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) break;
  }
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin!.end();
      child.kill();
      await exited;
    },
  };
}

/** Resolves once `condition()` holds, checking on every turn of the event loop; rejects after `ms`. */
export async function waitFor(condition: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** `promise`, or a rejection naming `what` after `ms`; the timer does not outlive it. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `socket` emits `event`. */
export function once(emitter: NodeJS.EventEmitter, event: string): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args)));
}

/** Fills the kernel's buffers towards a `peer` that stops reading, until `writer`'s writes back up. */
export function backUp(writer: Writer, peer: net.Socket): void {
  peer.pause();
  const chunk = Buffer.alloc(64 * 1024, 'x');
  for (let i = 0; i < 256; i++) writer.write(chunk); // 16 MiB: far past loopback buffers
}

/** Everything `socket` receives until its end. */
/** The first `n` bytes `socket` receives (it must not be read by anything else meanwhile). */
export function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length < n) return;
      socket.off('data', onData).off('error', reject);
      resolve(Buffer.concat(chunks).subarray(0, n));
    };
    socket.on('data', onData).once('error', reject);
  });
}

export function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => socket.once('end', () => resolve(Buffer.concat(chunks))));
}

/** The listener counts of a socket for the events rx-tcp uses, to check that teardown removed its own. */
export function listenerCounts(emitter: NodeJS.EventEmitter): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of ['data', 'end', 'error', 'close', 'connect', 'secureConnect', 'drain']) {
    counts[event] = emitter.listenerCount(event);
  }
  return counts;
}

/** How an Observable ended, once it has: `{ done: true }`, or `{ error }`; `undefined` before. */
export function settled(source: Observable<unknown>): {
  result: () => { done: true } | { error: unknown } | undefined;
} {
  let result: { done: true } | { error: unknown } | undefined;
  source.subscribe({ error: (error) => (result = { error }), complete: () => (result = { done: true }) });
  return { result: () => result };
}

/** A raw client on 127.0.0.1 that connects to `port` and swallows its own errors. */
export function rawClient(port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  return socket;
}
