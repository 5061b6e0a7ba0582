// The commands of the Redis-protocol example (examples/resp-server.ts): a command and the store
// in, the reply out, encoded as RESP. Pure, with no I/O, so that the example and the raw node:net
// server it is measured against (bench/raw-resp-server.ts) do exactly the same work.

/**
 * The keys and their values. A key is the key's bytes read as latin1, one character per byte, so
 * that any bytes make a distinct key (UTF-8 would turn invalid sequences into the same U+FFFD).
 */
export type Store = Map<string, Buffer>;

const CR = 13;
const LF = 10;
const OK = Buffer.from('+OK\r\n');
/** The reply to QUIT; compared by identity: the connection ends after it is sent. */
export const QUIT_OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NIL = Buffer.from('$-1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');
const NOT_AN_INTEGER = Buffer.from('-ERR value is not an integer or out of range\r\n');
const OVERFLOW = Buffer.from('-ERR increment or decrement would overflow\r\n');
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** Runs `command` against `store` and returns its reply. `command` must not be empty. */
export function execute(store: Store, command: Buffer[]): Buffer {
  const name = command[0].toString('latin1').toUpperCase();
  const arity = command.length - 1;
  switch (name) {
    case 'PING':
      if (arity > 1) return wrongArity(name);
      return arity === 0 ? PONG : bulk(command[1]);
    case 'ECHO':
      if (arity !== 1) return wrongArity(name);
      return bulk(command[1]);
    case 'GET':
      if (arity !== 1) return wrongArity(name);
      return bulk(store.get(command[1].toString('latin1')));
    case 'SET':
      if (arity !== 2) return wrongArity(name);
      // A copy: the argument is a view of a received chunk, which it would keep alive.
      store.set(command[1].toString('latin1'), Buffer.from(command[2]));
      return OK;
    case 'INCR': {
      if (arity !== 1) return wrongArity(name);
      const key = command[1].toString('latin1');
      const stored = store.get(key);
      const value = stored === undefined ? 0n : parseInteger(stored);
      if (value === undefined) return NOT_AN_INTEGER;
      if (value === INT64_MAX) return OVERFLOW;
      const incremented = String(value + 1n);
      store.set(key, Buffer.from(incremented, 'latin1'));
      return Buffer.from(`:${incremented}\r\n`, 'latin1');
    }
    case 'DEL': {
      if (arity === 0) return wrongArity(name);
      let deleted = 0;
      for (let i = 1; i < command.length; i++) if (store.delete(command[i].toString('latin1'))) deleted++;
      return Buffer.from(`:${deleted}\r\n`, 'latin1');
    }
    case 'COMMAND': // redis-cli asks for the command table (COMMAND DOCS): none to give
      return EMPTY_ARRAY;
    case 'CONFIG': // redis-benchmark asks for `save` and `appendonly` before it starts
      return config(command);
    case 'QUIT':
      return QUIT_OK;
    default:
      return Buffer.from(`-ERR unknown command '${shown(command[0])}'\r\n`, 'latin1');
  }
}

function config(command: Buffer[]): Buffer {
  if (command.length !== 3 || command[1].toString('latin1').toUpperCase() !== 'GET') {
    return Buffer.from('-ERR only CONFIG GET <parameter> is supported\r\n');
  }
  const parameter = command[2].toString('latin1').toLowerCase();
  const value = parameter === 'save' ? '' : parameter === 'appendonly' ? 'no' : undefined;
  if (value === undefined) return EMPTY_ARRAY;
  return Buffer.concat([Buffer.from('*2\r\n'), bulk(Buffer.from(parameter)), bulk(Buffer.from(value))]);
}

function wrongArity(name: string): Buffer {
  return Buffer.from(`-ERR wrong number of arguments for '${name.toLowerCase()}' command\r\n`, 'latin1');
}

/** A bulk string reply, `$<length>\r\n<bytes>\r\n`, in one Buffer; `$-1` for a missing value. */
function bulk(value: Buffer | undefined): Buffer {
  if (value === undefined) return NIL;
  const head = `$${value.length}\r\n`;
  const reply = Buffer.allocUnsafe(head.length + value.length + 2);
  reply.write(head, 0, 'latin1');
  value.copy(reply, head.length);
  reply[reply.length - 2] = CR;
  reply[reply.length - 1] = LF;
  return reply;
}

/** A stored value as a 64-bit integer, written as Redis writes them (no sign `+`, no leading 0). */
function parseInteger(value: Buffer): bigint | undefined {
  const text = value.toString('latin1');
  if (text.length > 20 || !/^(?:0|-?[1-9][0-9]*)$/.test(text)) return undefined;
  const n = BigInt(text);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** A name quoted in an error reply, which is one line: no CR, LF or other control byte, 128 at most. */
function shown(name: Buffer): string {
  return name
    .toString('latin1')
    .slice(0, 128)
    .replace(/[^\x20-\x7e]/g, '?');
}
