import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type InetAddress, WhereToListen } from 'rx-tcp';

/** Listen on 127.0.0.1 only, on a port the OS chooses: tests keep their traffic on loopback. */
export function loopback(): WhereToListen<InetAddress, number> {
  return WhereToListen.create({
    socketType: 'inet',
    address: { family: 'inet', host: '127.0.0.1', port: 0 },
    listeningOn: (bound) => bound.port,
  });
}

/** A fresh temporary directory for Unix sockets, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-tcp-'));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
