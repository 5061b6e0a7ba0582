import { type Address, addressToString, type InetAddress, type UnixAddress } from './address';
import { isBranded } from './brand';
import { checkPort, checkUnixPath, describe } from './validate';

/** The brand of `WhereToListen`: `Symbol.for`, so that every copy of rx-tcp shares it. */
const WHERE_TO_LISTEN: unique symbol = Symbol.for('rx-tcp.WhereToListen');

/** What {@link WhereToListen.create} takes. */
export interface WhereToListenSpec<A extends Address, L> {
  /** `'inet'` (TCP over IPv4/IPv6) or `'unix'`. */
  socketType: A['family'];
  /** The address to bind. For inet, host `'::'` means every interface, IPv4 and IPv6; port 0 lets the OS choose. */
  address: A;
  /** Turns the bound address into what `Server.listeningOn` reports (the port, the path, …). */
  listeningOn: (bound: A) => L;
}

/** What `WhereToListen.toJSON` gives. */
export interface WhereToListenJSON<A extends Address> {
  /** `'inet'` or `'unix'`. */
  socketType: A['family'];
  /** The address, as `addressToString` prints it. */
  address: string;
}

/**
 * Where a server listens (Async's `Where_to_listen`): the socket type, the address to bind, and
 * what the server reports it is listening on. Made by {@link onPort}, {@link onPortChosenByOs},
 * {@link onFile}, or {@link WhereToListen.create}.
 *
 * ```ts
 * import { WhereToListen } from 'rx-tcp';
 *
 * const loopbackOnly = WhereToListen.create({
 *   socketType: 'inet',
 *   address: { family: 'inet', host: '127.0.0.1', port: 0 },
 *   listeningOn: (bound) => bound.port,
 * });
 * console.log(String(loopbackOnly)); // (inet 127.0.0.1:0)
 * ```
 */
export class WhereToListen<A extends Address, L> {
  /** @internal Marks instances of every copy of rx-tcp. */
  readonly [WHERE_TO_LISTEN] = true;

  /**
   * `instanceof` holds for instances made by any copy of rx-tcp in the process: an application
   * that loads both the CommonJS and the ESM build has two `WhereToListen` classes.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, WHERE_TO_LISTEN);
  }

  private constructor(
    /** `'inet'` or `'unix'`. */
    readonly socketType: A['family'],
    /** The address to bind. */
    readonly address: A,
    /** Turns the address actually bound into what the server reports it listens on. */
    readonly listeningOn: (bound: A) => L,
  ) {}

  /**
   * Describes a listening socket.
   * @param spec `socketType`, `address`, `listeningOn`; the address must match the socket type.
   */
  static create<A extends Address, L>(spec: WhereToListenSpec<A, L>): WhereToListen<A, L> {
    const { socketType, address, listeningOn } = spec ?? ({} as WhereToListenSpec<A, L>);
    if (socketType !== 'inet' && socketType !== 'unix') {
      throw new TypeError(
        `WhereToListen.create: socketType must be 'inet' or 'unix', got ${describe(socketType)}`,
      );
    }
    if (typeof address !== 'object' || address === null || address.family !== socketType) {
      throw new TypeError(
        `WhereToListen.create: address must be a ${socketType} address, got ${describe(address)}`,
      );
    }
    if (typeof listeningOn !== 'function') {
      throw new TypeError(
        `WhereToListen.create: listeningOn must be a function, got ${describe(listeningOn)}`,
      );
    }
    if (address.family === 'inet') {
      if (typeof address.host !== 'string' || address.host.length === 0) {
        throw new TypeError(
          `WhereToListen.create: host must be a non-empty string, got ${describe(address.host)}`,
        );
      }
      checkPort('WhereToListen.create', address.port, 0);
    } else {
      checkUnixPath('WhereToListen.create', address.path);
    }
    return new WhereToListen(socketType, address, listeningOn);
  }

  /** `(inet [::]:8080)`, `(unix /tmp/app.sock)`: Async's s-expression, as text. */
  toString(): string {
    return `(${this.socketType} ${addressToString(this.address)})`;
  }

  /** `{ socketType, address }`, the address as `addressToString` prints it. */
  toJSON(): WhereToListenJSON<A> {
    return { socketType: this.socketType, address: addressToString(this.address) };
  }
}

/** Every interface, IPv4 and IPv6 (dual-stack where the system has it). */
const ANY = '::';

/**
 * Listen on `port` on every interface, IPv4 and IPv6.
 *
 * ```ts
 * import { Server, onPort } from 'rx-tcp';
 *
 * Server.create(onPort(8080), (_address, reader, writer) => reader.transfer(writer)).subscribe();
 * ```
 * @param port An integer in 1..65535.
 */
export function onPort(port: number): WhereToListen<InetAddress, number> {
  checkPort('onPort', port);
  return WhereToListen.create({
    socketType: 'inet',
    address: { family: 'inet', host: ANY, port },
    listeningOn: (bound) => bound.port,
  });
}

/**
 * Listen on a port the OS chooses, on every interface; `Server.listeningOn` tells which.
 *
 * ```ts
 * import { Server, onPortChosenByOs } from 'rx-tcp';
 *
 * Server.create(onPortChosenByOs, () => []).subscribe((server) => console.log(server.listeningOn));
 * ```
 */
export const onPortChosenByOs: WhereToListen<InetAddress, number> = WhereToListen.create({
  socketType: 'inet',
  address: { family: 'inet', host: ANY, port: 0 },
  listeningOn: (bound) => bound.port,
});

/**
 * Listen on the Unix-domain socket at `path`. A socket file left by a dead process is taken over;
 * one something still listens on is `EADDRINUSE`; the file is removed when the server closes (if
 * it is still this server's). Of several processes starting on one stale path at once, exactly
 * one listens and the others get `EADDRINUSE`.
 *
 * ```ts
 * import { Server, onFile } from 'rx-tcp';
 *
 * Server.create(onFile('/tmp/app.sock'), (_address, _reader, writer) => {
 *   writer.writeLine('hello');
 *   return [];
 * }).subscribe();
 * ```
 * @param path A non-empty path of at most 107 bytes.
 */
export function onFile(path: string): WhereToListen<UnixAddress, string> {
  checkUnixPath('onFile', path);
  return WhereToListen.create({
    socketType: 'unix',
    address: { family: 'unix', path },
    listeningOn: (bound) => bound.path,
  });
}
