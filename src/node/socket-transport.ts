// node/: Node's sockets, and the only runtime importers of node:net and node:tls. It may import
// stream/, bytes/ and the top-level files below connection (errors, validate, address,
// where-to-connect, where-to-listen); nothing from client/, server/ or testing/.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Transport, TransportListener } from '../stream/transport';

const EMPTY = new Uint8Array(0);

/**
 * Where a socket keeps what its events go to, so that event handlers can be shared by every socket:
 * the connection attempt (`connect-sock.ts`), then the transport's listener. One slot for both, so
 * that a socket's hidden class changes once.
 */
export const SOCKET_SLOT: unique symbol = Symbol('rx-tcp.socket');

type WiredSocket = Socket & { [SOCKET_SLOT]?: unknown };

// One set of event handlers for every socket (Node calls them with the socket as `this`), rather
// than four closures per connection: a connection's cost in memory and in set-up time is what
// decides how many a server holds and how fast it accepts them.
function onData(this: WiredSocket, chunk: Buffer): void {
  (this[SOCKET_SLOT] as TransportListener | undefined)?.onData(chunk);
}

function onEnd(this: WiredSocket): void {
  (this[SOCKET_SLOT] as TransportListener | undefined)?.onEnd();
}

/** The `error` handler of both the connection attempt and the transport. */
export function onSocketError(this: WiredSocket, error: Error): void {
  (this[SOCKET_SLOT] as Pick<TransportListener, 'onError'> | undefined)?.onError(error);
}

function onClose(this: WiredSocket): void {
  // The handlers stay on the socket, now destroyed: with its slot cleared they reach nothing, and
  // a connection closed does not pay for removing four listeners.
  const listener = this[SOCKET_SLOT] as TransportListener | undefined;
  this[SOCKET_SLOT] = undefined;
  listener?.onClose();
}

/** Reports the end a socket reached before it was wired, unless it closed since. */
function endedUnwired(socket: WiredSocket): void {
  onEnd.call(socket);
}

/**
 * A Node socket as a {@link Transport}: the one place where `net.Socket` events are wired to a
 * Reader and a Writer. The socket must have been created with `allowHalfOpen: true`, so that the
 * peer's FIN ends our reading without ending our writing.
 */
class SocketTransport implements Transport {
  /** A TLS socket always gets its callback: an empty write is a special case of TLS we avoid. */
  private readonly plain: boolean;

  constructor(private readonly socket: WiredSocket) {
    this.plain = !(socket instanceof TLSSocket);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  write(chunk: Uint8Array | string, done: (error?: Error | null) => void): void {
    const { socket } = this;
    if (!this.plain || socket.writableLength > 0 || socket.destroyed) {
      socket.write(chunk, done);
      return;
    }
    // Nothing queued: the chunk most likely goes to the OS within this call. Written without a
    // callback, Node then schedules nothing (a callback costs a process.nextTick per write, a
    // good part of a request/response round trip), and we can tell at once how it went.
    socket.write(chunk);
    const error = socket.errored;
    if (error !== null) done(error);
    else if (socket.writableLength === 0) done();
    // Queued after all (the kernel's buffer is full): an empty write behind it calls back once it
    // has reached the OS, in order, as the chunk's own callback would have.
    else socket.write(EMPTY, done);
  }

  end(done: (error?: Error | null) => void): void {
    this.socket.end(done);
  }

  /** TLS has its close_notify to write before the FIN, which a peer that does not read holds up. */
  endCannotStall(): boolean {
    return this.plain && this.socket.writableLength === 0;
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
    // resetAndDestroy() needs a connected TCP handle: before the connection there is nothing to
    // reset, and Node refuses it on TLS and Unix sockets, which are then just destroyed.
    const tcp = this.plain && socket.remoteFamily !== undefined;
    if (socket.pending || socket.connecting || !tcp) socket.destroy();
    else socket.resetAndDestroy();
  }

  start(listener: TransportListener): void {
    const { socket } = this;
    if (socket.destroyed) {
      // Gone before it was wired (a TLS connection reset while it waited for a slot): its events
      // are over, so report its end as they would have.
      process.nextTick(() => {
        if (socket.errored !== null) listener.onError(socket.errored);
        listener.onClose();
      });
      return;
    }
    socket[SOCKET_SLOT] = listener;
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onSocketError);
    socket.on('close', onClose);
    // A socket accepted with pauseOnConnect does not start reading by itself.
    socket.resume();
    // Its FIN came while it waited, paused, for a slot, with nothing left to read (a socket read
    // for its PROXY header, or a TLS one): Node emitted its 'end' then, to nobody.
    if (socket.readableEnded) process.nextTick(endedUnwired, socket);
  }
}

/** A Node socket as a {@link Transport}. */
export function socketTransport(socket: Socket): Transport {
  return new SocketTransport(socket);
}
