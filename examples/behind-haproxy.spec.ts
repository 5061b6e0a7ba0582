import * as net from 'node:net';
import { encodeProxyHeader } from 'rx-tcp';
import { lastValueFrom } from 'rxjs';
import { reusePortSupported, startService } from './behind-haproxy';

/** Sends `bytes` to 127.0.0.1:`port`, half-closes, and resolves with the lines answered. */
function exchange(port: number, bytes: Buffer | string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => resolve(Buffer.concat(chunks).toString().split('\n').filter(Boolean)));
    socket.end(bytes);
  });
}

describe('examples/behind-haproxy', () => {
  it('knows which Node versions have reusePort', () => {
    expect(
      ['20.20.2', '22.11.0', '22.12.0', '23.0.0', '23.1.0', '24.22.3'].map((v) => reusePortSupported(v)),
    ).toEqual([false, false, true, false, true, true]);
  });

  it('greets the client a PROXY header names, and echoes what follows it', async () => {
    const server = await startService(0, false);
    try {
      const v1 = await exchange(server.listeningOn, 'PROXY TCP4 192.0.2.7 192.0.2.1 51000 7000\r\nping\n');
      expect(v1[0]).toMatch(/^hello 192\.0\.2\.7:51000 \(via .*127\.0\.0\.1:\d+\)$/);
      expect(v1.slice(1)).toEqual(['ping']);
      const header = encodeProxyHeader(2, {
        source: { family: 'inet', host: '2001:db8::5', port: 40000 },
        destination: { family: 'inet', host: '2001:db8::1', port: 7000 },
        tlvs: new Map(),
      });
      const v2 = await exchange(server.listeningOn, Buffer.concat([header, Buffer.from('pong\n')]));
      expect(v2).toEqual([expect.stringMatching(/^hello \[2001:db8::5\]:40000 /), 'pong']);
      // A health check's LOCAL header: the balancer's own address.
      const local = await exchange(server.listeningOn, encodeProxyHeader(2, null));
      expect(local).toEqual([expect.stringMatching(/^hello .*127\.0\.0\.1:\d+ \(direct\)$/)]);
    } finally {
      await lastValueFrom(server.close({ closeExistingConnections: true }), { defaultValue: undefined });
    }
  });

  if (reusePortSupported()) {
    it('runs two servers on one port with reusePort', async () => {
      const first = await startService(0, true);
      const second = await startService(first.listeningOn, true);
      try {
        expect(second.listeningOn).toBe(first.listeningOn);
        const answer = await exchange(first.listeningOn, 'PROXY UNKNOWN\r\nhi\n');
        expect(answer.slice(1)).toEqual(['hi']);
      } finally {
        for (const server of [first, second]) {
          await lastValueFrom(server.close({ closeExistingConnections: true }), { defaultValue: undefined });
        }
      }
    });
  } else {
    it('refuses reusePort at the call on this Node', () => {
      expect(() => startService(0, true)).toThrow(/reusePort/);
    });
  }
});
