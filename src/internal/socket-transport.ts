import type { Socket } from 'node:net';
import type { Transport, TransportListener } from './transport';

/** Where a socket keeps the listener its events go to, so that the handlers below can be shared. */
const LISTENER = Symbol('rx-tcp.listener');

type WiredSocket = Socket & { [LISTENER]?: TransportListener };

// One set of event handlers for every socket (Node calls them with the socket as `this`), rather
// than four closures per connection: a connection's cost in memory and in set-up time is what
// decides how many a server holds and how fast it accepts them.
function onData(this: WiredSocket, chunk: Buffer): void {
  this[LISTENER]?.onData(chunk);
}

function onEnd(this: WiredSocket): void {
  this[LISTENER]?.onEnd();
}

function onError(this: WiredSocket, error: Error): void {
  this[LISTENER]?.onError(error);
}

function onClose(this: WiredSocket): void {
  this.off('data', onData);
  this.off('end', onEnd);
  this.off('error', onError);
  this.off('close', onClose);
  const listener = this[LISTENER];
  this[LISTENER] = undefined;
  listener?.onClose();
}

/**
 * A Node socket as a {@link Transport}: the one place where `net.Socket` events are wired to a
 * Reader and a Writer. The socket must have been created with `allowHalfOpen: true`, so that the
 * peer's FIN ends our reading without ending our writing.
 */
class SocketTransport implements Transport {
  constructor(private readonly socket: WiredSocket) {}

  get writableLength(): number {
    return this.socket.writableLength;
  }

  write(chunk: Uint8Array, done: (error?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  end(done: (error?: Error | null) => void): void {
    this.socket.end(done);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  abort(): void {
    const { socket } = this;
    if (socket.destroyed) return;
    // resetAndDestroy() needs a connected handle; before that there is nothing to reset.
    if (socket.pending || socket.connecting) socket.destroy();
    else socket.resetAndDestroy();
  }

  start(listener: TransportListener): void {
    const { socket } = this;
    socket[LISTENER] = listener;
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    // A socket accepted with pauseOnConnect does not start reading by itself.
    socket.resume();
  }
}

/** A Node socket as a {@link Transport}. */
export function socketTransport(socket: Socket): Transport {
  return new SocketTransport(socket);
}
