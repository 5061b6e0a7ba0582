import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A key and its certificate, PEM-encoded. */
export interface KeyPair {
  key: string;
  cert: string;
}

/** What {@link makeCertificates} generates: throwaway, valid for a day, for loopback only. */
export interface Certificates {
  /** The test CA's certificate: what a client passes as `ca` to trust the server. */
  ca: string;
  /** Signed by the CA, for `localhost`, `127.0.0.1` and `::1`. */
  server: KeyPair;
  /** Signed by the CA, for client authentication (`requestCert`). */
  client: KeyPair;
  /** Self-signed, for `localhost`: no CA vouches for it. */
  selfSigned: KeyPair;
  /** The CA's own key pair (to sign more in a test, if needed). */
  caPair: KeyPair;
}

/**
 * Generates a certificate authority, a server certificate and a self-signed certificate with the
 * `openssl` command into a fresh temporary directory, reads them, and removes the directory: no
 * private key is ever committed, and each test run has its own. EC P-256 keys keep it fast (well
 * under a second).
 */
export function makeCertificates(): Certificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-tcp-certs-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const read = (name: string) => fs.readFileSync(file(name), 'utf8');
  try {
    const ecKey = (name: string) =>
      openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', name);
    ecKey('ca.key');
    openssl(
      'req',
      ...['-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '1', '-out', 'ca.crt'],
      ...['-subj', '/CN=rx-tcp test CA'],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    );
    const signed = (name: string, cn: string, extensions: string) => {
      ecKey(`${name}.key`);
      openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
      fs.writeFileSync(file(`${name}.ext`), extensions);
      openssl(
        'x509',
        ...['-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
        ...['-days', '1', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`],
      );
      return { key: read(`${name}.key`), cert: read(`${name}.crt`) };
    };
    const server = signed(
      'server',
      'localhost',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n',
    );
    const client = signed('client', 'rx-tcp test client', 'extendedKeyUsage=clientAuth\n');
    ecKey('self.key');
    openssl(
      'req',
      ...['-x509', '-new', '-key', 'self.key', '-sha256', '-days', '1', '-out', 'self.crt'],
      ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    );
    return {
      ca: read('ca.crt'),
      server,
      client,
      selfSigned: { key: read('self.key'), cert: read('self.crt') },
      caPair: { key: read('ca.key'), cert: read('ca.crt') },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
