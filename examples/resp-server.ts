// A Redis-protocol (RESP) server: `npm run example:resp`, then `redis-cli -p 6380` (RESP_PORT sets
// the port). It answers PING, ECHO, SET, GET, INCR, DEL, QUIT, and enough of COMMAND and CONFIG GET
// for redis-cli and redis-benchmark; keys and values are bytes, never decoded to text.
//
// What it shows: how to write a protocol server with rx-tcp. Three parts, each testable alone:
//
//   respCommands()          a `decode` step, one per connection: bytes in, one command (its
//                           arguments) out, or `undefined` while the command is incomplete;
//   execute(store, command) a pure function from a command to its reply, as bytes, in
//                           resp-commands.ts (shared with the raw server it is measured against);
//   serveResp(store)        the connection handler, which is only plumbing:
//                           reader.pipe(decode(respCommands()), map(execute), tap(writer.write), ...).
//
// One `writer.write` per reply and no batching by hand: the writer sends every reply written while
// handling one batch of received bytes in one system call, so pipelined commands cost one write.
//
// A client may send anything: every limit is below, and what breaks them is answered with
// `-ERR Protocol error: ...` before the connection is closed, as Redis does.
//
// resp-server.spec.ts tests it with marbles in virtual time, in memory, over loopback, with the
// real redis-cli and redis-benchmark, and with random commands cut at random points;
// bench/resp.ts measures it against a raw node:net server.

import {
  type Address,
  type Handler,
  onPort,
  onPortChosenByOs,
  Server,
  type ServerOptions,
  type WhereToListen,
} from 'rx-tcp';
import { type DecodeCursor, type DecodeStep, decode, FrameTooLongError } from 'rx-tcp/operators';
import { catchError, EMPTY, filter, firstValueFrom, map, takeWhile, tap } from 'rxjs';
import { execute, QUIT_OK, type Store } from './resp-commands';

// ---------------------------------------------------------------------------------------------
// Limits: what one client can make the server hold.

/** The longest bulk string (one argument): 512 KiB. A longer one is refused from its `$` header. */
export const MAX_BULK_LENGTH = 512 * 1024;
/** The most arguments of one command. */
export const MAX_ARGUMENTS = 1024;
/** The longest inline command line, as Redis's: 64 KiB. */
export const MAX_INLINE_LENGTH = 64 * 1024;
/** The longest `*<count>` or `$<length>` header line, CRLF included: enough for any valid one. */
const MAX_HEADER_LENGTH = 16;
/** Default of `maxBuffered`: the bytes of one incomplete command the server holds, 1 MiB. */
export const DEFAULT_MAX_BUFFERED = 1024 * 1024;
/** Default of `maxUnsentBytes`: replies waiting for a client that does not read them, 8 MiB. */
export const DEFAULT_MAX_UNSENT_BYTES = 8 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Parsing: bytes in, commands out.

/** A command: its arguments as bytes, the command name first. Empty for an empty line or `*0`. */
export type Command = Buffer[];

/** Input that is not RESP: answered `-ERR Protocol error: <message>`, then the connection closes. */
export class RespProtocolError extends Error {}

const CR = 13;
const LF = 10;
const STAR = 0x2a;
const DOLLAR = 0x24;

/**
 * The `decode` step: cuts the next command out of the bytes received, or returns `undefined` if it
 * has not arrived whole (decode then rewinds the cursor and calls again when more bytes come).
 * Two forms, as Redis accepts: multi-bulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what clients send)
 * and inline (`GET k\r\n`, what a person types into telnet).
 *
 * One step per connection (`decode(respCommands())`): a command that arrives in many packets is
 * not parsed again from its start at each one. The step remembers where each argument it has
 * seen lies, as Redis does, so a client trickling a command a byte at a time costs linear work.
 * @throws RespProtocolError when the bytes cannot be a command, or break a limit.
 */
export function respCommands(): DecodeStep<Command> {
  const seen = new CommandSeen();
  return (cursor) => {
    const first = cursor.byteAt(0);
    if (first === -1) return undefined;
    return first === STAR ? multiBulk(cursor, seen) : inline(cursor);
  };
}

/** What a step has learnt of the multi-bulk command it is waiting for; nothing of it is consumed. */
class CommandSeen {
  /** The number of arguments, once the `*<count>` line is in; -1 before. */
  count = -1;
  /** Where each argument seen starts, and its length. */
  spans: number[] = [];
  /** Where the next argument's `$<length>` line starts. */
  next = 0;

  forget(): void {
    this.count = -1;
    this.spans = [];
    this.next = 0;
  }
}

function multiBulk(cursor: DecodeCursor, seen: CommandSeen): Command | undefined {
  // First find where each argument lies, looking without consuming: an incomplete command is
  // looked at again at each packet, from where the last look stopped, and costs no copy.
  if (seen.count === -1) {
    const count = header(cursor, 0, 'multibulk');
    if (count === undefined) return undefined;
    if (count.value > MAX_ARGUMENTS) throw new RespProtocolError('invalid multibulk length');
    seen.count = count.value;
    seen.next = count.next;
  }
  while (seen.spans.length < 2 * seen.count) {
    const at = seen.next;
    const first = cursor.byteAt(at);
    if (first === -1) return undefined;
    if (first !== DOLLAR) throw new RespProtocolError(`expected '$', got '${printable(first)}'`);
    const length = header(cursor, at, 'bulk');
    if (length === undefined) return undefined;
    // Refused from the header alone: `$999999999` must not make the server wait for a gigabyte.
    if (length.value < 0 || length.value > MAX_BULK_LENGTH) {
      throw new RespProtocolError('invalid bulk length');
    }
    const end = length.next + length.value + 2;
    if (end > cursor.length) return undefined;
    if (cursor.byteAt(end - 2) !== CR || cursor.byteAt(end - 1) !== LF) {
      throw new RespProtocolError('expected CRLF after bulk string');
    }
    seen.spans.push(length.next, length.value);
    seen.next = end;
  }
  // Then read them: each one a view of the chunk it lies in, or a copy if it spans two.
  const { spans, next } = seen;
  seen.forget();
  const command: Command = [];
  let read = 0;
  for (let i = 0; i < spans.length; i += 2) {
    cursor.skip(spans[i] - read);
    command.push(cursor.read(spans[i + 1])!);
    read = spans[i] + spans[i + 1];
  }
  cursor.skip(next - read);
  return command; // `*0` and `*-1` are empty commands, as in Redis
}

/** The number of a header line, and where the line after it starts. */
interface Header {
  value: number;
  next: number;
}

/**
 * Reads the `*<count>\r\n` or `$<length>\r\n` line at `at`, without consuming it; `undefined` if
 * it is incomplete. Looks at MAX_HEADER_LENGTH bytes at most, so a header without its CRLF is
 * refused at once, and trickling one costs a few bytes of work per packet.
 */
function header(cursor: DecodeCursor, at: number, kind: 'multibulk' | 'bulk'): Header | undefined {
  const negative = cursor.byteAt(at + 1) === 0x2d; // '-'
  let value = 0;
  let digits = 0;
  for (let i = at + (negative ? 2 : 1); i < at + MAX_HEADER_LENGTH; i++) {
    const byte = cursor.byteAt(i);
    if (byte === -1) return undefined;
    if (byte === CR) {
      const next = cursor.byteAt(i + 1);
      if (next === -1) return undefined;
      if (next !== LF || digits === 0) break;
      return { value: negative ? -value : value, next: i + 2 };
    }
    if (byte < 0x30 || byte > 0x39) break; // not a digit
    value = value * 10 + (byte - 0x30);
    digits++;
  }
  throw new RespProtocolError(`invalid ${kind} length`);
}

function inline(cursor: DecodeCursor): Command | undefined {
  // latin1: one character per byte, so the arguments' bytes come back unchanged.
  const line = cursor.readLine('latin1');
  if (line === undefined ? cursor.length > MAX_INLINE_LENGTH : line.length > MAX_INLINE_LENGTH) {
    throw new RespProtocolError('too big inline request');
  }
  if (line === undefined) return undefined;
  // Arguments are separated by spaces or tabs (Redis also reads quotes here; this server does not).
  const command: Command = [];
  let start = -1;
  for (let i = 0; i <= line.length; i++) {
    const blank = i === line.length || line.charCodeAt(i) === 0x20 || line.charCodeAt(i) === 0x09;
    if (blank && start !== -1) {
      if (command.length === MAX_ARGUMENTS) throw new RespProtocolError('too many arguments');
      command.push(Buffer.from(line.slice(start, i), 'latin1'));
      start = -1;
    } else if (!blank && start === -1) {
      start = i;
    }
  }
  return command;
}

function printable(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Executing: examples/resp-commands.ts, a command and the store in, the reply out.

// ---------------------------------------------------------------------------------------------
// Serving: the handler is plumbing between the reader, the two functions above, and the writer.

/** Options of {@link serveResp}. */
export interface RespOptions {
  /**
   * The most bytes of one incomplete command held; a longer command is a protocol error.
   * Default {@link DEFAULT_MAX_BUFFERED} (1 MiB).
   */
  maxBuffered?: number;
  /**
   * The most bytes of replies waiting for a client that does not read them; past it the connection
   * is closed, as Redis's `client-output-buffer-limit` does. Default {@link DEFAULT_MAX_UNSENT_BYTES}.
   */
  maxUnsentBytes?: number;
}

/**
 * The RESP connection handler, for `Server.create`: answers each command in order, until QUIT, a
 * protocol error, the client's FIN, or a client that stopped reading its replies.
 * @param store The keys and values, shared by every connection served by this handler.
 */
export function serveResp(store: Store = new Map(), options: RespOptions = {}): Handler<Address> {
  const { maxBuffered = DEFAULT_MAX_BUFFERED, maxUnsentBytes = DEFAULT_MAX_UNSENT_BYTES } = options;
  if (!Number.isInteger(maxUnsentBytes) || maxUnsentBytes <= 0) {
    throw new RangeError(`serveResp: maxUnsentBytes must be a positive integer, got ${maxUnsentBytes}`);
  }
  return (_address, reader, writer) =>
    reader.pipe(
      decode(respCommands(), { maxBuffered }),
      filter((command) => command.length > 0), // an empty line, or `*0`: nothing to answer
      map((command) => execute(store, command)),
      tap((reply) => writer.write(reply)),
      // Ending the handler is what closes the connection. A client that sends without reading
      // would otherwise have its replies pile up here: the reader has no pushback on a push
      // subscription, so the bound is on what waits to be sent.
      takeWhile((reply) => reply !== QUIT_OK && writer.bytesToWrite <= maxUnsentBytes),
      catchError((error: unknown) => {
        if (error instanceof RespProtocolError || error instanceof FrameTooLongError) {
          const why =
            error instanceof RespProtocolError ? error.message : `command over ${error.limit} bytes`;
          writer.write(`-ERR Protocol error: ${why}\r\n`);
          return EMPTY;
        }
        throw error; // a reset, or the stream ending inside a command: the server's to report
      }),
    );
}

/** Options of {@link startRespServer}: the server's, and the handler's. */
export interface RespServerOptions<A extends Address> extends ServerOptions<A>, RespOptions {
  /** The keys and values. Default: a new, empty `Map`. */
  store?: Store;
}

/** Starts a RESP server on `where`; resolves once it listens. */
export function startRespServer<A extends Address, L>(
  where: WhereToListen<A, L>,
  options: RespServerOptions<A> = {},
): Promise<Server<A, L>> {
  const { store, maxBuffered, maxUnsentBytes, ...serverOptions } = options;
  return firstValueFrom(
    Server.create(where, serveResp(store, { maxBuffered, maxUnsentBytes }), serverOptions),
  );
}

/** Listens on RESP_PORT (default 6380; 0 for a port the OS chooses) until Ctrl-C. */
async function main(): Promise<void> {
  const port = Number(process.env.RESP_PORT ?? 6380);
  const server = await startRespServer(port === 0 ? onPortChosenByOs : onPort(port));
  console.log(`RESP server listening on port ${server.listeningOn}: try redis-cli -p ${server.listeningOn}`);
  process.once('SIGINT', () => server.close({ drainTimeout: 1_000 }).subscribe());
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

export { execute, QUIT_OK, type Store } from './resp-commands';
