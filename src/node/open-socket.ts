import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Address } from '../address';
import type { WhereToConnect } from '../where-to-connect';

/**
 * @internal Starts connecting a Node socket to `where`: plain, or TLS when `tlsOptions` is given
 * (`true` for Node's defaults). The caller listens for `'connect'` (plain) or `'secureConnect'`
 * (TLS) and for `'error'`.
 */
export function openSocket(
  where: WhereToConnect<Address>,
  tlsOptions: tls.ConnectionOptions | true | undefined,
): net.Socket {
  if (tlsOptions === undefined) return net.connect(where.netOptions);
  const extra = tlsOptions === true ? {} : tlsOptions;
  // SNI carries host names only (RFC 6066); an IP literal is still checked against the certificate.
  const servername = net.isIP(where.serverName ?? '') === 0 ? where.serverName : undefined;
  return tls.connect({ servername, ...where.netOptions, ...extra });
}
