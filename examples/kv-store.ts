// A tiny key-value store speaking a line protocol, served by Server.create:
// `npx ts-node --transpile-only -r tsconfig-paths/register examples/kv-store.ts`.
//
//   SET key value   ->  OK             (the value is the rest of the line, spaces included)
//   GET key         ->  the value, or NIL
//   QUIT            ->  BYE, and the server closes the connection
//   anything else   ->  ERR ...
//   (no command for idleTimeout ms)  ->  TIMEOUT, and the server closes the connection
//
// The handler is a plain function of (address, reader, writer), and its idle timeout is an RxJS
// `timeout` on the scheduler it is given: kv-store.spec.ts tests this very handler with marbles in
// virtual time, over connectionPair, and over a real loopback socket.

import { type Address, type Handler, onPortChosenByOs, Server, toHostAndPort, withConnection } from 'rx-tcp';
import {
  asyncScheduler,
  EMPTY,
  firstValueFrom,
  lastValueFrom,
  map,
  type SchedulerLike,
  takeWhile,
  tap,
  timeout,
  toArray,
} from 'rxjs';

/** Options of {@link kvStore}. */
export interface KvStoreOptions {
  /** Where the values live; connections served by one handler share it. Default: a new, empty `Map`. */
  store?: Map<string, string>;
  /** Milliseconds without a command before the server answers `TIMEOUT` and hangs up. Default `30_000`. */
  idleTimeout?: number;
  /** Runs the idle timer. Default `asyncScheduler` (virtual inside `TestScheduler.run`). */
  scheduler?: SchedulerLike;
}

/** The answer to one command line. */
export interface Reply {
  text: string;
  /** The connection ends after this reply. */
  quit: boolean;
}

/** Answers one command, updating `store`. */
export function answer(store: Map<string, string>, line: string): Reply {
  const [, command = '', key, rest] = /^(\S*)(?:\s+(\S+))?(?:\s+(.*))?$/.exec(line.trim()) ?? [];
  const reply = (text: string, quit = false): Reply => ({ text, quit });
  switch (command) {
    case 'SET':
      if (key === undefined || rest === undefined) return reply('ERR usage: SET key value');
      store.set(key, rest);
      return reply('OK');
    case 'GET':
      if (key === undefined || rest !== undefined) return reply('ERR usage: GET key');
      return reply(store.get(key) ?? 'NIL');
    case 'QUIT':
      return reply('BYE', true);
    case '':
      return reply('ERR empty command');
    default:
      return reply(`ERR unknown command ${JSON.stringify(command)}`);
  }
}

/**
 * The key-value store's connection handler, for `Server.create`: answers each line, and ends (so
 * that the server closes the connection) after `QUIT`, after an idle timeout, or at the client's FIN.
 * @param options `store` (default: a new `Map`), `idleTimeout` (default `30_000` ms), `scheduler`
 *   (default `asyncScheduler`).
 */
export function kvStore(options: KvStoreOptions = {}): Handler<Address> {
  const { store = new Map<string, string>(), idleTimeout = 30_000, scheduler = asyncScheduler } = options;
  if (!(store instanceof Map)) throw new TypeError(`kvStore: store must be a Map, got ${String(store)}`);
  if (typeof idleTimeout !== 'number' || !(idleTimeout > 0)) {
    throw new RangeError(`kvStore: idleTimeout must be a number > 0, got ${String(idleTimeout)}`);
  }
  return (_address, reader, writer) =>
    reader.lines().pipe(
      timeout({
        each: idleTimeout,
        scheduler,
        with: () => {
          writer.writeLine('TIMEOUT');
          return EMPTY; // ending the handler is what makes the server close the connection
        },
      }),
      map((line) => answer(store, line)),
      tap((reply) => writer.writeLine(reply.text)),
      takeWhile((reply) => !reply.quit),
    );
}

/** Starts the store on a port chosen by the OS, runs a short session against it, and closes it. */
async function main(): Promise<void> {
  const server = await firstValueFrom(Server.create(onPortChosenByOs, kvStore({ idleTimeout: 5_000 })));
  console.log(`server: kv-store listening on port ${server.listeningOn}`);

  const script = ['SET greeting hello world', 'GET greeting', 'GET nothing', 'DEL greeting', 'QUIT'];
  const replies = await lastValueFrom(
    withConnection(toHostAndPort('localhost', server.listeningOn), ({ reader, writer }) => {
      for (const command of script) writer.writeLine(command); // pipelined: sent in one packet
      return reader.lines().pipe(toArray()); // the server hangs up after BYE, which ends the lines
    }),
  );
  for (const [i, command] of script.entries()) console.log(`client: ${command.padEnd(24)} -> ${replies[i]}`);

  await lastValueFrom(server.close());
  console.log('server: closed');
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
