import {
  AcquireTimeoutError,
  BufferAgeLimitError,
  ConcurrentReadError,
  ConnectInterruptedError,
  ConnectTimeoutError,
  ConsumerLeftError,
  FrameTooLongError,
  PoolClosedError,
  PoolFullError,
  ProxyProtocolError,
  ReaderClosedError,
  RxTcpError,
  TruncatedFrameError,
  WriterClosedError,
} from 'rx-tcp';
import { ConnectionAbortedError } from '../src/errors';

describe('errors', () => {
  it('have a name, a stable code and a cause', () => {
    const cause = new Error('os');
    const cases: [RxTcpError, string, string][] = [
      [new ConnectTimeoutError('127.0.0.1:1', 5), 'ConnectTimeoutError', 'ERR_RXTCP_CONNECT_TIMEOUT'],
      [new ConnectInterruptedError('h:1', cause), 'ConnectInterruptedError', 'ERR_RXTCP_CONNECT_INTERRUPTED'],
      [new ConcurrentReadError(), 'ConcurrentReadError', 'ERR_RXTCP_CONCURRENT_READ'],
      [new ReaderClosedError(), 'ReaderClosedError', 'ERR_RXTCP_READER_CLOSED'],
      [new WriterClosedError(), 'WriterClosedError', 'ERR_RXTCP_WRITER_CLOSED'],
      [new ConsumerLeftError(3, cause), 'ConsumerLeftError', 'ERR_RXTCP_CONSUMER_LEFT'],
      [new ConnectionAbortedError(cause), 'ConnectionAbortedError', 'ERR_RXTCP_CONNECTION_ABORTED'],
      [
        new BufferAgeLimitError(10, 5, Buffer.from('ab')),
        'BufferAgeLimitError',
        'ERR_RXTCP_BUFFER_AGE_LIMIT',
      ],
      [new FrameTooLongError(4, 5), 'FrameTooLongError', 'ERR_RXTCP_FRAME_TOO_LONG'],
      [new TruncatedFrameError(Buffer.from('a'), 4), 'TruncatedFrameError', 'ERR_RXTCP_TRUNCATED_FRAME'],
      [new AcquireTimeoutError(10), 'AcquireTimeoutError', 'ERR_RXTCP_ACQUIRE_TIMEOUT'],
      [new PoolFullError(3), 'PoolFullError', 'ERR_RXTCP_POOL_FULL'],
      [new PoolClosedError(), 'PoolClosedError', 'ERR_RXTCP_POOL_CLOSED'],
      [new ProxyProtocolError('bad signature'), 'ProxyProtocolError', 'ERR_RXTCP_PROXY_PROTOCOL'],
    ];
    for (const [error, name, code] of cases) {
      expect(error).toBeInstanceOf(RxTcpError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
      expect(error.code).toBe(code);
    }
    expect(new ConnectInterruptedError('h:1', cause).cause).toBe(cause);
    expect(new ConsumerLeftError(3, cause).cause).toBe(cause);
  });

  it('name the address in connect errors, as Async does', () => {
    expect(new ConnectTimeoutError('[::1]:80', 5).message).toBe('connection attempt timeout [::1]:80');
    expect(new ConnectInterruptedError('h:80').message).toBe('connection attempt aborted h:80');
  });

  it('quote only the first bytes of a stuck buffer', () => {
    const error = new BufferAgeLimitError(100, 1_000_000, Buffer.from('GET / HTTP/1.1'));
    expect(error.message).toContain('1000000 bytes waiting');
    expect(error.message).toContain('GET / HTTP/1.1');
    expect(error.firstBytes.toString()).toBe('GET / HTTP/1.1');
  });
});
