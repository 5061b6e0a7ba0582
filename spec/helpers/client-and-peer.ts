import type * as net from 'node:net';
import { type Connection, type ConnectOptions, connect, type InetAddress, toHostAndPort } from 'rx-tcp';
import { firstValueFrom } from 'rxjs';
import { rawServer, waitFor } from './net';

/** An rx-tcp client connection, the raw `node:net` socket at its other end, and how to close both. */
export interface ClientAndPeer {
  connection: Connection<InetAddress>;
  peer: net.Socket;
  close: () => Promise<void>;
}

/** Connects an rx-tcp client to a raw server on loopback and hands back both ends. */
export async function clientAndPeer(options: ConnectOptions = {}): Promise<ClientAndPeer> {
  const peers: net.Socket[] = [];
  const server = await rawServer((socket) => peers.push(socket));
  const connection = await firstValueFrom(connect(toHostAndPort('127.0.0.1', server.port), options));
  await waitFor(() => peers.length === 1, 5000, 'accept');
  return {
    connection,
    peer: peers[0],
    close: async () => {
      connection.destroy();
      await server.close();
    },
  };
}
