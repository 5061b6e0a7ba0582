import type { ConnectOptions } from 'rx-tcp';
import { type ClientAndPeer, clientAndPeer } from './client-and-peer';

/**
 * What a spec opened and must close after each test, newest first: `add` a cleanup as soon as
 * the thing exists; `pair` opens a client and its raw peer that are closed so.
 */
export function cleanupsAfterEach(): {
  add: (cleanup: () => unknown) => void;
  pair: (options?: ConnectOptions) => Promise<ClientAndPeer>;
} {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const add = (cleanup: () => unknown) => {
    cleanups.push(cleanup);
  };
  return {
    add,
    pair: async (options = {}) => {
      const p = await clientAndPeer(options);
      add(() => p.close());
      return p;
    },
  };
}
