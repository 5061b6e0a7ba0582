import { connectionPair } from 'rx-tcp/testing';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import type { Connection } from '../src/connection';
import { clientAndPeer } from './helpers/client-and-peer';

/** Whether `connection.peerDone` has completed by now. */
function watchPeerDone(connection: Connection): { readonly done: boolean; readonly settled: Promise<void> } {
  const state = { done: false, settled: Promise.resolve() };
  state.settled = lastValueFrom(connection.peerDone, { defaultValue: undefined }).then(() => {
    state.done = true;
  });
  return state;
}

describe('Connection.peerDone', () => {
  it('waits while the peer is there and completes on its FIN, data still unread', async () => {
    const { connection, peer, close } = await clientAndPeer();
    try {
      const watch = watchPeerDone(connection);
      peer.write('tail');
      await firstValueFrom(connection.reader.read());
      expect(watch.done).toBe(false);
      peer.end('unread');
      await watch.settled;
      expect(watch.done).toBe(true);
    } finally {
      await close();
    }
  });

  it('completes on a reset', async () => {
    const { connection, peer, close } = await clientAndPeer();
    try {
      const watch = watchPeerDone(connection);
      peer.resetAndDestroy();
      await watch.settled;
      expect(watch.done).toBe(true);
    } finally {
      await close();
    }
  });

  it('completes once our own close has closed the socket, and replays to late subscribers', async () => {
    const [client, server] = connectionPair();
    const watch = watchPeerDone(client);
    server.writer.close().subscribe();
    await lastValueFrom(client.close(), { defaultValue: undefined });
    await watch.settled;
    let late = false;
    client.peerDone.subscribe({ complete: () => (late = true) });
    expect(late).toBe(true);
    await lastValueFrom(server.close(), { defaultValue: undefined });
  });

  it('hands out an Observable that cannot settle it', () => {
    const [client, server] = connectionPair();
    expect('resolve' in client.peerDone).toBe(false);
    client.destroy();
    server.destroy();
  });
});
