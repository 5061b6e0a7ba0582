/**
 * The baseline of the RESP figures: a Redis-protocol server written on raw `node:net` the way a
 * competent Node programmer writes one, with the commands, replies, limits and error messages of
 * `examples/resp-server.ts` (PING, ECHO, SET, GET, INCR, DEL, COMMAND, CONFIG GET, QUIT; inline
 * and multi-bulk commands; binary-safe keys and values).
 *
 * How it is written: each `'data'` chunk is parsed in place with an offset (an incomplete command
 * at its end is kept and the next chunk appended to it), the replies to one chunk are collected and
 * written in one `socket.write`, so one system call answers a batch of pipelined commands.
 *
 * It shares only the commands with the example (`examples/resp-commands.ts`, pure, with no I/O),
 * so that both do the same work; a process running it holds nothing of the library, for
 * `bench/resp.ts` and the memory figure `bench/resp-memory.ts`.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { execute, QUIT_OK, type Store } from '../examples/resp-commands';

/** Bytes of one command the server holds at most (a bigger one is a protocol error): 1 MiB. */
const MAX_BUFFERED = 1024 * 1024;
/** The longest bulk string (argument) accepted: 512 KiB. */
const MAX_BULK_LENGTH = 512 * 1024;
/** The most arguments of one command. */
const MAX_ARGUMENTS = 1024;
/** The longest inline command line (as Redis's PROTO_INLINE_MAX_SIZE). */
const MAX_INLINE_LENGTH = 64 * 1024;
/** The longest `*<count>` or `$<length>` line: 10 digits, a sign, and room to spare. */
const MAX_HEADER_LENGTH = 16;

const CR = 13;
const LF = 10;

/** A RESP protocol error: answered with `-ERR Protocol error: ...`, then the connection is closed. */
class ProtocolError extends Error {}

/**
 * Starts the raw RESP server on 127.0.0.1:`port` (0: a port the OS chooses) and resolves once it
 * listens. Every connection shares one store. No-delay sockets, as rx-tcp's.
 */
export async function startRawRespServer(port = 0): Promise<net.Server> {
  const store: Store = new Map();
  const server = net.createServer({ noDelay: true }, (socket) => serve(socket, store));
  server.listen({ port, host: '127.0.0.1' });
  await once(server, 'listening');
  return server;
}

function serve(socket: net.Socket, store: Store): void {
  const parser = new Parser();
  // Bytes of an incomplete command, from earlier chunks.
  let pending: Buffer | undefined;
  let closing = false;
  socket.on('error', () => {}); // a reset: 'close' follows, and the socket is released
  socket.on('end', () => socket.end());
  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    const buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    const replies: Buffer[] = [];
    parser.reset(buffer);
    try {
      for (let args = parser.next(); args !== undefined; args = parser.next()) {
        if (args.length === 0) continue; // an empty line, or `*0`: nothing to answer
        const reply = execute(store, args);
        replies.push(reply);
        if (reply === QUIT_OK) {
          closing = true;
          break;
        }
      }
      if (!closing && parser.offset < buffer.length) {
        if (buffer.length - parser.offset > MAX_BUFFERED) {
          throw new ProtocolError(`command over ${MAX_BUFFERED} bytes`);
        }
        pending = buffer.subarray(parser.offset);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      replies.push(Buffer.from(`-ERR Protocol error: ${error.message}\r\n`, 'latin1'));
      closing = true;
    }
    let flowing = true;
    if (replies.length === 1) flowing = socket.write(replies[0]);
    else if (replies.length > 1) flowing = socket.write(Buffer.concat(replies));
    if (closing) socket.end();
    else if (!flowing) {
      // The client is not reading its replies as fast: stop reading its commands until it does.
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
}

/** Cuts commands out of one buffer, from `offset` on. */
class Parser {
  buffer: Buffer = Buffer.alloc(0);
  offset = 0;

  reset(buffer: Buffer): void {
    this.buffer = buffer;
    this.offset = 0;
  }

  /** The next command's arguments (empty for an empty command), or undefined if incomplete. */
  next(): Buffer[] | undefined {
    if (this.offset >= this.buffer.length) return undefined;
    return this.buffer[this.offset] === 0x2a /* * */ ? this.multiBulk() : this.inline();
  }

  private multiBulk(): Buffer[] | undefined {
    const { buffer } = this;
    let at = this.header(this.offset, 'multibulk');
    if (at === -1) return undefined;
    const count = this.value;
    if (count > MAX_ARGUMENTS) throw new ProtocolError('invalid multibulk length');
    const args: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (at >= buffer.length) return undefined;
      if (buffer[at] !== 0x24 /* $ */) {
        throw new ProtocolError(`expected '$', got '${printable(buffer[at])}'`);
      }
      const start = this.header(at, 'bulk');
      if (start === -1) return undefined;
      const length = this.value;
      if (length < 0 || length > MAX_BULK_LENGTH) throw new ProtocolError('invalid bulk length');
      if (start + length + 2 > buffer.length) return undefined;
      if (buffer[start + length] !== CR || buffer[start + length + 1] !== LF) {
        throw new ProtocolError('expected CRLF after bulk string');
      }
      args.push(buffer.subarray(start, start + length));
      at = start + length + 2;
    }
    this.offset = at;
    return args; // `*0` and `*-1` are empty commands, as in Redis
  }

  /** The number of the header line at `at` (`*<count>` or `$<length>`). */
  private value = 0;

  /**
   * Reads the header line at `at` into `value` and returns where the line after it starts, or -1
   * if it has not arrived whole. Looks at most MAX_HEADER_LENGTH bytes ahead.
   */
  private header(at: number, kind: 'multibulk' | 'bulk'): number {
    const { buffer } = this;
    const negative = buffer[at + 1] === 0x2d; /* - */
    let value = 0;
    let digits = 0;
    for (let i = at + (negative ? 2 : 1); i < at + MAX_HEADER_LENGTH; i++) {
      if (i >= buffer.length) return -1;
      const byte = buffer[i];
      if (byte === CR) {
        if (i + 1 >= buffer.length) return -1;
        if (buffer[i + 1] !== LF || digits === 0) break;
        this.value = negative ? -value : value;
        return i + 2;
      }
      if (byte < 0x30 || byte > 0x39) break;
      value = value * 10 + (byte - 0x30);
      digits++;
    }
    throw new ProtocolError(`invalid ${kind} length`);
  }

  private inline(): Buffer[] | undefined {
    const { buffer, offset } = this;
    const lineEnd = buffer.indexOf(LF, offset);
    if (lineEnd === -1) {
      if (buffer.length - offset > MAX_INLINE_LENGTH) throw new ProtocolError('too big inline request');
      return undefined;
    }
    const end = lineEnd > offset && buffer[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (end - offset > MAX_INLINE_LENGTH) throw new ProtocolError('too big inline request');
    this.offset = lineEnd + 1;
    const args: Buffer[] = [];
    let start = -1;
    for (let i = offset; i <= end; i++) {
      const blank = i === end || buffer[i] === 0x20 || buffer[i] === 0x09;
      if (blank && start !== -1) {
        if (args.length === MAX_ARGUMENTS) throw new ProtocolError('too many arguments');
        args.push(buffer.subarray(start, i));
        start = -1;
      } else if (!blank && start === -1) {
        start = i;
      }
    }
    return args;
  }
}

function printable(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
}
