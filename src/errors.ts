/**
 * The errors rx-tcp raises itself. Every one extends {@link RxTcpError}, carries a stable `code`
 * (`ERR_RXTCP_…`) to branch on, and the underlying error, if any, as `cause`. Errors that come from
 * the operating system or DNS (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, …) are passed through as
 * Node raised them, keeping their own `code`.
 *
 * ```ts
 * import { connect, toHostAndPort, ConnectTimeoutError } from 'rx-tcp';
 *
 * connect(toHostAndPort('127.0.0.1', 9), { timeout: 1000 }).subscribe({
 *   error: (e) => console.log(e instanceof ConnectTimeoutError ? 'too slow' : e.code),
 * });
 * ```
 */
export class RxTcpError extends Error {
  /** A stable identifier, `ERR_RXTCP_…`, that does not change with the wording of the message. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The connection attempt did not finish within `ConnectOptions.timeout` (DNS and TLS included). */
export class ConnectTimeoutError extends RxTcpError {
  constructor(
    /** What the attempt was connecting to, as `addressToString` or `host:port` prints it. */
    readonly address: string,
    /** The timeout that ran out, in milliseconds. */
    readonly timeout: number,
  ) {
    super('ERR_RXTCP_CONNECT_TIMEOUT', `connection attempt timeout ${address}`);
  }
}

/** `ConnectOptions.interrupt` fired before the connection was established. */
export class ConnectInterruptedError extends RxTcpError {
  constructor(
    /** What the attempt was connecting to. */
    readonly address: string,
    cause?: unknown,
  ) {
    super('ERR_RXTCP_CONNECT_INTERRUPTED', `connection attempt aborted ${address}`, { cause });
  }
}

/**
 * The connection was torn down by this side (a forced close, `writer.error()`, a close while a read
 * waited), never by the peer: a peer's reset is reported as `ECONNRESET`/`EPIPE` or a
 * `ConsumerLeftError`.
 */
export class ConnectionAbortedError extends RxTcpError {
  constructor(cause?: unknown, message = 'the connection was closed by this side while reading') {
    super('ERR_RXTCP_CONNECTION_ABORTED', message, { cause });
  }
}

/** A second consumer tried to read from a `Reader` while another was reading. */
export class ConcurrentReadError extends RxTcpError {
  constructor() {
    super(
      'ERR_RXTCP_CONCURRENT_READ',
      'the reader already has a consumer: a Reader serves one subscription or pull read at a time',
    );
  }
}

/** A read was attempted on a `Reader` after `close()`. */
export class ReaderClosedError extends RxTcpError {
  constructor() {
    super('ERR_RXTCP_READER_CLOSED', 'the reader is closed');
  }
}

/** A write was attempted on a `Writer` after `close()` or `complete()`. */
export class WriterClosedError extends RxTcpError {
  constructor() {
    super('ERR_RXTCP_WRITER_CLOSED', 'the writer is closed');
  }
}

/** Bytes handed to a `Writer` could not be delivered: the peer left (the OS error is the `cause`). */
export class ConsumerLeftError extends RxTcpError {
  constructor(
    /** How many written bytes never reached the operating system. */
    readonly bytesLost: number,
    cause?: unknown,
  ) {
    super('ERR_RXTCP_CONSUMER_LEFT', `the peer left with ${bytesLost} written bytes undelivered`, { cause });
  }
}

/** Written bytes waited unflushed longer than the writer's `bufferAgeLimit`. */
export class BufferAgeLimitError extends RxTcpError {
  constructor(
    /** The limit, in milliseconds. */
    readonly limit: number,
    /** How many bytes were waiting when the limit ran out. */
    readonly bytesWaiting: number,
    /** The first bytes that were waiting (at most 32), to identify the stream in logs. */
    readonly firstBytes: Buffer,
  ) {
    super(
      'ERR_RXTCP_BUFFER_AGE_LIMIT',
      `writer buffer older than ${limit} ms (${bytesWaiting} bytes waiting, starting ${JSON.stringify(
        firstBytes.toString('latin1'),
      )})`,
    );
  }
}

/** A frame exceeded the decoder's limit; the stream is abandoned rather than buffered without bound. */
export class FrameTooLongError extends RxTcpError {
  constructor(
    /** The largest frame allowed, in bytes. */
    readonly limit: number,
    /** How many bytes of the frame had been seen (or its declared length) when the limit was hit. */
    readonly bytesSeen: number,
  ) {
    super('ERR_RXTCP_FRAME_TOO_LONG', `frame of at least ${bytesSeen} bytes exceeds the limit of ${limit}`);
  }
}

/** The stream ended inside a frame whose length was known (length-prefixed or fixed-size). */
export class TruncatedFrameError extends RxTcpError {
  constructor(
    /** The bytes of the incomplete frame (header included) that did arrive. */
    readonly partial: Buffer,
    /** How many bytes the complete frame would have had, when known. */
    readonly expected?: number,
  ) {
    super(
      'ERR_RXTCP_TRUNCATED_FRAME',
      `stream ended inside a frame: ${partial.length} bytes${expected === undefined ? '' : ` of ${expected}`}`,
    );
  }
}

/** A `ConnectionPool.use` waited longer than `acquireTimeout` for a connection (making one included). */
export class AcquireTimeoutError extends RxTcpError {
  constructor(
    /** The timeout that ran out, in milliseconds. */
    readonly timeout: number,
  ) {
    super('ERR_RXTCP_ACQUIRE_TIMEOUT', `no pooled connection within ${timeout} ms`);
  }
}

/** A `ConnectionPool.use` would have been one more than `maxWaiting` waiting uses: refused at once. */
export class PoolFullError extends RxTcpError {
  constructor(
    /** The pool's `maxWaiting`. */
    readonly maxWaiting: number,
  ) {
    super('ERR_RXTCP_POOL_FULL', `pool full: ${maxWaiting} uses already wait for a connection`);
  }
}

/** The `ConnectionPool` is closed: no new lease, and a use cut off by its `drainTimeout`. */
export class PoolClosedError extends RxTcpError {
  constructor() {
    super('ERR_RXTCP_POOL_CLOSED', 'connection pool closed');
  }
}

/**
 * A connection's PROXY protocol header was missing, malformed, oversized, late, or cut short by a
 * close: the connection is closed before any handler sees it (`Server` event `rejected`).
 */
export class ProxyProtocolError extends RxTcpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_RXTCP_PROXY_PROTOCOL', `PROXY protocol: ${message}`, options);
  }
}
