// A tiny Redis client speaking RESP over a pool of rx-tcp connections: `npm run example:redis`
// (against a redis-server on 127.0.0.1:6379, or the port in REDIS_PORT).
//
// `RedisClient` is a `ConnectionPool` and two methods. Each `command(...)` or `pipeline([...])`
// leases one pooled connection, writes its commands in one tick (one system call: a pipelined
// batch), reads the replies back in order, and gives the connection back for the next caller.
// Many callers at once share at most `maxConnections` connections; the others wait their turn.
// A reply that does not parse fails that call, and its connection is destroyed rather than reused
// half-read; an error reply (`-ERR ...`) is a value, and the connection goes on.

import {
  type Connection,
  ConnectionPool,
  type ConnectionPoolOptions,
  EOF,
  type InetAddress,
  type PoolStats,
  type Reader,
  toHostAndPort,
  type WhereToConnect,
  type Writer,
} from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, map, type Observable } from 'rxjs';

/** A RESP reply: a simple string, an error, an integer, a bulk string (null when absent), or an array. */
export type Reply = string | number | null | Error | Reply[];

/** Encodes one command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | number)[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    const text = String(arg);
    out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  }
  return out;
}

/** Reads one reply. */
export async function readReply(reader: Reader): Promise<Reply> {
  const line = await firstValueFrom(reader.readLine());
  if (line === EOF) throw new Error('redis closed the connection');
  const rest = line.slice(1);
  switch (line[0]) {
    case '+':
      return rest;
    case '-':
      return new Error(rest);
    case ':':
      return Number(rest);
    case '$': {
      const length = Number(rest);
      if (length < 0) return null;
      const data = await firstValueFrom(reader.reallyRead(length + 2)); // the bytes, then \r\n
      if (!Buffer.isBuffer(data)) throw new Error('redis closed the connection inside a bulk string');
      return data.subarray(0, length).toString();
    }
    case '*': {
      const count = Number(rest);
      if (count < 0) return null;
      const items: Reply[] = [];
      for (let i = 0; i < count; i++) items.push(await readReply(reader));
      return items;
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(line.slice(0, 32))}`);
  }
}

/** Sends every command at once, then reads their replies in order. */
export function pipeline(
  reader: Reader,
  writer: Writer,
  commands: (string | number)[][],
): Observable<Reply[]> {
  return defer(async () => {
    for (const command of commands) writer.write(encodeCommand(command));
    const replies: Reply[] = [];
    for (let i = 0; i < commands.length; i++) replies.push(await readReply(reader));
    return replies;
  });
}

/** A Redis client for many callers at once, over a pool of connections. */
export class RedisClient {
  private constructor(private readonly pool: ConnectionPool<InetAddress>) {}

  /**
   * A client of the server at `where` (or of the connections a factory makes); nothing connects
   * before the first command.
   * @param options The pool's: `maxConnections` (default 10), `idleTimeout`, `acquireTimeout`, ….
   */
  static create(
    where: WhereToConnect<InetAddress> | (() => Observable<Connection<InetAddress>>),
    options: ConnectionPoolOptions = {},
  ): RedisClient {
    return new RedisClient(ConnectionPool.create(where, options));
  }

  /** Sends one command on a pooled connection; emits its reply. */
  command(...args: (string | number)[]): Observable<Reply> {
    return this.pipeline([args]).pipe(map((replies) => replies[0]));
  }

  /** Sends `commands` pipelined on one pooled connection; emits their replies, in order. */
  pipeline(commands: (string | number)[][]): Observable<Reply[]> {
    return this.pool.use(({ reader, writer }) => pipeline(reader, writer, commands));
  }

  /** The pool's counts: connections open, idle, leased, and callers waiting. */
  get stats(): PoolStats {
    return this.pool.stats;
  }

  /** Closes the pool: calls under way finish, idle connections are closed. */
  close(): Observable<void> {
    return this.pool.close({ drainTimeout: 5_000 });
  }
}

async function main(): Promise<void> {
  const port = Number(process.env.REDIS_PORT ?? 6379);
  const redis = RedisClient.create(toHostAndPort('127.0.0.1', port), { maxConnections: 4, timeout: 5_000 });
  try {
    console.log(await lastValueFrom(redis.pipeline([['PING'], ['SET', 'greeting', 'hello from rx-tcp']])));
    // 100 callers at once, on at most 4 connections.
    await lastValueFrom(redis.command('DEL', 'visits'));
    const counts = await Promise.all(
      Array.from({ length: 100 }, () => lastValueFrom(redis.command('INCR', 'visits'))),
    );
    console.log(`100 INCRs, the last one ${Math.max(...(counts as number[]))}; pool:`, redis.stats);
    console.log(await lastValueFrom(redis.command('GET', 'greeting')));
  } finally {
    await lastValueFrom(redis.close(), { defaultValue: undefined });
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`redis example: ${error.message} (is a redis-server listening on 127.0.0.1?)`);
    process.exitCode = 1;
  });
}
