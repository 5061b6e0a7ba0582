// stream/: the Reader, the Writer and what they stand on, over any Transport. It may import
// ../errors, ../validate, ../bytes and rxjs; never node:net or node:tls, nor anything from node/,
// client/, server/ or testing/.

/**
 * What a Reader and a Writer need from the byte stream beneath them. A Node socket is one
 * (`socket-transport.ts`, the only place that touches `net.Socket` events); the in-memory pair of
 * `rx-tcp/testing` is another, so that both run the very same Reader and Writer code.
 */
export interface Transport {
  /** Bytes handed to `write` that have not reached the operating system (or the peer) yet. */
  readonly writableLength: number;
  /** Queues `chunk` (a string as UTF-8); `done` runs, in order, once it reached the OS or failed. */
  write(chunk: Uint8Array | string, done: (error?: Error | null) => void): void;
  /** Sends FIN after every queued chunk; `done` runs once it is sent, or with the error if it cannot be. */
  end(done: (error?: Error | null) => void): void;
  /**
   * True when an `end()` made now cannot be held up by the peer: nothing is queued, and nothing
   * else has to be written before the FIN. The writer then bounds its close with no timer.
   */
  endCannotStall(): boolean;
  /** Stops delivering data (and, for a socket, reading it: the peer then feels the pushback). */
  pause(): void;
  resume(): void;
  /** Closes at once, dropping what is queued. Safe to call more than once. */
  destroy(): void;
  /**
   * Closes at once with a reset, so that the peer sees the stream was cut short rather than a FIN
   * that would pass truncated data off as complete. Safe to call more than once.
   */
  abort(): void;
  /** Starts delivering events to `listener`. Called once. */
  start(listener: TransportListener): void;
}

/** The events of a {@link Transport}. `onClose` is the last one, and comes exactly once. */
export interface TransportListener {
  onData(chunk: Buffer): void;
  /** The peer sent FIN. */
  onEnd(): void;
  /** The connection failed (a reset, a broken pipe, …). `onClose` follows. */
  onError(error: Error): void;
  /** Fully closed; every listener the transport added is removed by now. */
  onClose(): void;
}
