import type { Socket } from 'node:net';
import type { Transport, TransportListener } from './transport';

/**
 * A Node socket as a {@link Transport}: the one place where `net.Socket` events are wired to a
 * Reader and a Writer. The socket must have been created with `allowHalfOpen: true`, so that the
 * peer's FIN ends our reading without ending our writing.
 */
export function socketTransport(socket: Socket): Transport {
  return {
    get writableLength() {
      return socket.writableLength;
    },
    write(chunk, done) {
      socket.write(chunk, done);
    },
    end(done) {
      socket.end(done);
    },
    pause() {
      socket.pause();
    },
    resume() {
      socket.resume();
    },
    destroy() {
      socket.destroy();
    },
    abort() {
      if (socket.destroyed) return;
      // resetAndDestroy() needs a connected handle; before that there is nothing to reset.
      if (socket.pending || socket.connecting) socket.destroy();
      else socket.resetAndDestroy();
    },
    start(listener: TransportListener) {
      const onData = (chunk: Buffer) => listener.onData(chunk);
      const onEnd = () => listener.onEnd();
      const onError = (error: Error) => listener.onError(error);
      const onClose = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('error', onError);
        listener.onClose();
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.once('close', onClose);
      // A socket accepted with pauseOnConnect does not start reading by itself.
      socket.resume();
    },
  };
}
