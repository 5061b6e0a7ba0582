import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants } from 'node:os';
import { basename, dirname } from 'node:path';
import { MAX_UNIX_PATH_BYTES } from '../address';

/** Rounds of link-or-remove before giving up on a path that keeps changing under us. */
const MAX_CLAIMS = 8;

/**
 * The file of a Unix socket a server listens on, put in place and removed safely against other
 * processes doing the same: of several starting on one stale path at once, exactly one listens
 * and the others get `EADDRINUSE`, and none ever removes a file another one listens on. Every
 * rx-tcp process follows this protocol:
 *
 * - The server listens under a fresh name beside the path ({@link SocketFile.temporary}), then
 *   `link`s that socket to the path. `link` creates the name only where nothing is, atomically: it
 *   never replaces a file, live or stale (`rename` would), and the socket listens from the moment
 *   it has the name.
 * - Where a file is in the way, it is removed only if it is a socket nothing listens on (a connect
 *   is refused), and only while holding the path's takeover lock ({@link takeoverLock}), which
 *   every rx-tcp process takes to check and remove. Without it, two processes could both find one
 *   file stale, the first remove it and link its own, and the second then remove that live socket.
 *   With it, the second finds the first's socket listening: `EADDRINUSE`. Under the lock the file
 *   cannot change between the check and the removal: nobody links over a file, and an owner
 *   removes its own only while it still listens (below), which the check would have seen.
 * - A lock held by another process means it is deciding about this path right now; what it finds
 *   is what we would (it takes the path, or the path is live, or not a socket): `EADDRINUSE`.
 * - When the server closes, the path is removed only if it is still this socket (same device and
 *   inode; the inode cannot be reused while the socket is bound), and before the socket stops
 *   listening, so that no process can find it stale and replace it between the check and the
 *   removal. This is why the socket is bound under another name first: Node removes the name it
 *   bound when the server closes, whatever file is there by then.
 *
 * A process killed between binding the temporary name and linking it leaves that name behind (a
 * dot file), harmless and never reused.
 */
export class SocketFile {
  /** The fresh name the server listens under first, in the path's directory, as `link` needs. */
  readonly temporary: string;
  /** Device and inode of our socket, once linked to the path: what `release` compares. */
  private owned: fs.BigIntStats | undefined;
  private released = false;

  constructor(readonly path: string) {
    // Random part first: should the name have to be cut to fit, it stays unique.
    this.temporary = beside(path, `.${randomBytes(8).toString('hex')}.rx-tcp`);
  }

  /**
   * Links the socket listening at `temporary` to the path, removing a stale socket file found
   * there first. Resolves `true` once in place, `false` if released meanwhile; rejects with
   * `EADDRINUSE` where something listens on the path, or is there and is not a socket.
   */
  async claim(): Promise<boolean> {
    for (let round = 0; round < MAX_CLAIMS; round++) {
      if (this.released) return false;
      try {
        fs.linkSync(this.temporary, this.path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        await removeIfStale(this.path);
        continue;
      }
      // In the same turn as the link: a `release` cannot come between and miss the file.
      // (bigint: inode numbers may exceed what a double holds exactly)
      this.owned = fs.lstatSync(this.temporary, { bigint: true });
      fs.unlinkSync(this.temporary);
      return true;
    }
    throw addressInUse(this.path, 'kept changing while being taken over');
  }

  /** An error of binding the temporary name, made to name the path asked for, as it would have. */
  blame(error: NodeJS.ErrnoException & { address?: string }): void {
    if (error.address !== this.temporary) return;
    error.address = this.path;
    error.message = error.message.replace(this.temporary, this.path);
  }

  /**
   * Stops any claim under way, and removes the path if our socket is still the file there. Call
   * it before the socket stops listening (see {@link SocketFile}).
   */
  release(): void {
    this.released = true;
    const { owned } = this;
    this.owned = undefined;
    if (owned === undefined) return;
    try {
      const now = fs.lstatSync(this.path, { bigint: true });
      if (now.dev === owned.dev && now.ino === owned.ino) fs.unlinkSync(this.path);
    } catch {
      // Removed by someone else already: nothing of ours is left to remove.
    }
  }
}

/**
 * Removes the file at `path` if it is a socket nothing listens on, under the takeover lock.
 * Resolves once the path is free (removed, or gone meanwhile); rejects with `EADDRINUSE` otherwise.
 */
async function removeIfStale(path: string): Promise<void> {
  const unlock = await takeoverLock(path);
  // Another process is deciding about this path right now, and its outcome is ours too: it
  // listens there, or finds it live or not a socket.
  if (unlock === undefined) throw addressInUse(path, 'is being taken by another process');
  try {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (!stat.isSocket()) throw addressInUse(path, 'exists and is not a socket');
    if (await isListening(path)) throw addressInUse(path, 'is in use by a listening process');
    await fs.promises.rm(path, { force: true });
  } finally {
    unlock();
  }
}

/**
 * Takes the lock that every rx-tcp process holds while it checks and removes a stale socket file
 * at `path`: resolves with what releases it, or `undefined` where another process holds it. The
 * lock is a listening socket, as binding one is exclusive and lasts no longer than its process.
 * On Linux it is named in the abstract namespace (network-namespace wide): the kernel frees it
 * when its process dies, however it dies, and no file is left behind. Elsewhere it is a socket
 * file beside the path; one left by a process that died holding it is refused a connection, and
 * is removed, the lock reported busy this once. (There a narrow race remains, after such a death
 * only: of processes that all found the dead lock, a late one may remove a fresh one.)
 */
async function takeoverLock(path: string): Promise<(() => void) | undefined> {
  const name = takeoverLockName(path);
  // Nobody is meant to connect; a stale-lock probe does, and is closed at once.
  const lock = net.createServer((socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      lock.once('error', reject);
      lock.listen(name, resolve);
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    // Taking it over at once instead would be the very race the lock prevents, one level up.
    if (!name.startsWith('\0') && !(await isListening(name))) await fs.promises.rm(name, { force: true });
    return undefined;
  }
  return () => lock.close();
}

/**
 * @internal The name of the takeover lock of the socket file `path`. On Linux, the directory's
 * device and inode, whatever path leads there, and the file's name, in the abstract namespace.
 */
export function takeoverLockName(path: string): string {
  if (process.platform !== 'linux') return beside(path, `.${digest(basename(path))}.rx-tcp-lock`);
  const directory = fs.statSync(dirname(path));
  return `\0rx-tcp-takeover-${digest(`${directory.dev}:${directory.ino}/${basename(path)}`)}`;
}

/** Whether something listens on the socket at `path`: a connect succeeds, rather than being refused. */
function isListening(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      probe.destroy();
      // EAGAIN: a listener whose accept queue is full, but a listener.
      if (error.code === 'EAGAIN') resolve(true);
      else if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve(false);
      else reject(error);
    });
  });
}

/** `name` in the directory of `path`, cut to what a socket path may hold (the cut is in `name`). */
function beside(path: string, name: string): string {
  const directory = dirname(path);
  const full = Buffer.from(`${directory.endsWith('/') ? directory : `${directory}/`}${name}`);
  return full.subarray(0, MAX_UNIX_PATH_BYTES).toString();
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Node's `EADDRINUSE`, as a `listen` on a path in use gives it. */
function addressInUse(path: string, why: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`listen EADDRINUSE: ${path} ${why}`), {
    code: 'EADDRINUSE',
    errno: -constants.errno.EADDRINUSE,
    syscall: 'listen',
    address: path,
  });
}
