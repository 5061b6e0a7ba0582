// A tiny Redis client speaking RESP over rx-tcp: `npm run example:redis` (against a redis-server on
// 127.0.0.1:6379, or the port in REDIS_PORT). Commands are written in one tick and replies read back
// in order, so a batch is pipelined: one system call out, one read loop in.

import { EOF, type Reader, toHostAndPort, type Writer, withConnection } from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom, type Observable } from 'rxjs';

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

async function main(): Promise<void> {
  const port = Number(process.env.REDIS_PORT ?? 6379);
  const replies = await lastValueFrom(
    withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) =>
      pipeline(reader, writer, [
        ['PING'],
        ['SET', 'greeting', 'hello from rx-tcp'],
        ['GET', 'greeting'],
        ['INCR', 'visits'],
      ]),
    ),
  );
  console.log(replies);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`redis example: ${error.message} (is a redis-server listening on 127.0.0.1?)`);
    process.exitCode = 1;
  });
}
